"""What a notification kind is: one self-describing object per kind of outgoing mail.

A kind names its template folder, the typed context its templates are rendered from, who
reads it, the RFC 3834 ``Auto-Submitted`` value it carries, a sample context for the
start-up template check, and how its context is built from a stored delivery. Everything
that used to ask "which kind is this?" by name asks the kind instead, so a new kind is one
module in this package plus its three templates.

Building a context needs the database (the ticket, its first message, its files), which
this layer must not touch: a kind builds from a ``DeliverySource``, which the services
layer implements once for every kind.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol

from aliasdesk.notify.kinds import LinkedTicket, MailContext, RequestFile

Audience = Literal["requester", "member", "staff", "admin", "outside"]
"""Who reads a kind: the requester side of a ticket (its requester and watchers), the
department's members, the departments' people about no one ticket (a member's digest, a
lead's report), the admins (mail about no ticket), or someone outside a ticket who may
learn nothing of it."""
AutoSubmitted = Literal["auto-replied", "auto-generated"]
FileAttachment = tuple[str, str, bytes]
"""A file a mail carries: name, content type, bytes."""
InlineImage = tuple[str, str, str, bytes]
"""A picture the HTML part shows by ``cid:``: content id, file name, content type, bytes."""


class DeliverySource(Protocol):
    """The facts of one stored delivery a kind may build its context from."""

    @property
    def recipient(self) -> str: ...

    @property
    def sender(self) -> str: ...

    @property
    def facts(self) -> Mapping[str, Any]:
        """What the service that queued the mail stored with it."""
        ...

    def ticket_values(self) -> dict[str, Any]:
        """The fields every ticket context shares, as keyword arguments."""
        ...

    def department_name(self) -> str:
        """The ticket's department as people call it; "aliasdesk" for no ticket."""
        ...

    def person_name(self, address: str | None, given: str) -> str: ...

    def actor_name(self, address: str | None, given: str) -> str:
        """Who did something on the ticket, as the mail calls them."""
        ...

    def assigner_name(self, address: str | None, given: str) -> str | None: ...

    def first_response_within(self) -> timedelta | None: ...

    def first_response_due(self) -> datetime | None:
        """By when, where the promise counts opening hours; None round the clock."""
        ...

    def linked_tickets(self) -> tuple[LinkedTicket, ...]: ...

    def request_files(self) -> tuple[RequestFile, ...]:
        """The request's files as the owner's mail lists them."""
        ...

    def attached_request_files(self) -> list[FileAttachment]: ...

    def relayed_files(self) -> tuple[list[FileAttachment], list[str]]:
        """A relayed reply's files, and the names its mail lists."""
        ...


@dataclass(frozen=True, slots=True)
class NotificationKind:
    """One kind of outgoing mail, described once.

    ``written_by_a_person``: the words are a person's, so the hourly cap on automatic
    answers to one address does not hold it back. ``attachments``: the files the mail
    carries, for the few kinds that carry any; ``inline_images``: pictures its HTML
    shows (charts), inside the mail since clients block remote images. ``label``: the
    kind in the department's words ("status update"), for ticket events about it.
    """

    name: str
    context_type: type[Any]
    audience: Audience
    sample: Callable[[str | None], MailContext]
    build: Callable[[DeliverySource], MailContext]
    auto_submitted: AutoSubmitted = "auto-generated"
    label: str = ""
    written_by_a_person: bool = False
    attachments: Callable[[DeliverySource], list[FileAttachment]] | None = None
    inline_images: Callable[[DeliverySource], list[InlineImage]] | None = None
    mentioned: Callable[[], str] | None = None
    """How a mail of this kind is named to the department ("the acknowledgement"), in the
    language in force when called; None for kinds that never go to the requester side."""

    @property
    def internal(self) -> bool:
        """Stored on the ticket as an internal message: the requester does not see it."""
        return self.audience != "requester"

    @property
    def about_a_ticket(self) -> bool:
        return self.audience in ("requester", "member")

    @property
    def carries_files(self) -> bool:
        return self.attachments is not None

    @property
    def in_words(self) -> str:
        return self.label or self.name.replace("_", " ")


def fact_text(source: DeliverySource, key: str) -> str:
    """A stored fact as text, empty when missing or null."""
    return str(source.facts.get(key) or "")


def fact_texts(source: DeliverySource, key: str) -> tuple[str, ...]:
    """A stored list fact as a tuple of texts."""
    return tuple(str(item) for item in source.facts.get(key, []))


def fact_moment(value: Any) -> datetime:
    """A stored ISO time (naive ones read as UTC); now when the fact is missing."""
    if not isinstance(value, str):
        return datetime.now(UTC)
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
