"""Notification kinds: the typed context each outgoing mail template is rendered from.

One frozen dataclass per kind, so a service that builds a notification gets a type error
(not a half-rendered mail) when it forgets a fact the template needs, and the templates
can rely on exactly these names. Which kind uses which context, who reads it and how it
is built is said once per kind, in ``aliasdesk.notify.catalogue``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from aliasdesk.domain.command_catalogue import command_help
from aliasdesk.domain.command_types import CommandHelp
from aliasdesk.notify.language import _, describe_duration, format_when
from aliasdesk.notify.wording import (
    RATING_SCALE,
    RatingLevel,
    clock_help,
    headline_text,
    left_out_text,
    next_step_for,
    priority_word,
    size_text,
    sla_target_label,
    status_word,
    team_greeting,
    ticket_state_text,
    waiting_on_text,
)

SlaTarget = Literal["first_response", "resolution"]
Audience = Literal["requester", "owner"]

REPLY_COMMANDS: tuple[CommandHelp, ...] = command_help()
"""The command list of the assignment mail, derived from the commands' declarations."""


@dataclass(frozen=True, slots=True)
class LinkedTicket:
    """Another department's ticket opened from the same mail, named in the acknowledgement."""

    ref: str
    department_name: str


@dataclass(frozen=True, slots=True)
class RequestFile:
    """A file of the request as the owner's mail shows it: attached, or only named.

    ``left_out`` says why a file is only named (too large, or an active type such as a
    script or a macro document that a mail should never carry), empty when attached.
    """

    name: str
    size: int
    left_out: str = ""

    @property
    def size_text(self) -> str:
        return size_text(self.size)

    @property
    def left_out_text(self) -> str:
        return left_out_text(self.left_out)


@dataclass(frozen=True, kw_only=True)
class MailContext:
    """The base of every kind's context: frozen facts its templates read.

    A kind declared in a module of its own subclasses this (or ``TicketMailContext``), so
    no list of context types has to learn about it.
    """


@dataclass(frozen=True, kw_only=True)
class TicketMailContext(MailContext):
    """Facts every mail about a ticket may mention; the base of every ticket kind.

    ``recipient_name`` greets whoever the mail is for (a watcher by their own name);
    ``for_requester`` tells the requester's mail from a watcher's.
    """

    recipient: str
    recipient_name: str
    ref: str
    subject: str
    department_key: str
    department_name: str
    department_alias: str
    requester: str
    requester_name: str
    owner: str | None
    owner_name: str | None
    status: str
    priority: str
    created_at: datetime
    ticket_text: str
    page_link: str = ""
    """The requester's own ticket page; "" in mail to anyone else, or with no web pages."""

    @property
    def for_requester(self) -> bool:
        return self.recipient == self.requester

    @property
    def status_text(self) -> str:
        return status_word(self.status)

    @property
    def team_greeting(self) -> str:
        return team_greeting(self.owner_name, self.department_name)

    @property
    def clock_help(self) -> tuple[str, str]:
        return clock_help(self.requester_name, self.owner is not None)

    @property
    def priority_text(self) -> str:
        return priority_word(self.priority)


@dataclass(frozen=True, kw_only=True)
class AcknowledgementContext(TicketMailContext):
    """Sent to the requester when a request becomes a ticket; ``linked`` are the tickets
    other departments opened from the same mail, so the requester knows who does what."""

    first_response_within: timedelta | None = None
    first_response_by: datetime | None = None
    """When the promise falls due, where it counts opening hours (None round the clock)."""
    linked: tuple[LinkedTicket, ...] = ()

    @property
    def promise(self) -> str:
        """Who is on it and by when they answer: "Alice has got this and will get back
        to you within 4 hours."."""
        facts = {"owner": self.owner_name, "department": self.department_name}
        if self.first_response_within is None:
            text = (
                _("%(owner)s has got this and will get back to you soon.")
                if self.owner_name
                else _("Someone from %(department)s will pick it up and get back to you soon.")
            )
            return text % facts
        facts["within"] = describe_duration(self.first_response_within)
        if self.first_response_by is not None:
            facts["by"] = format_when(self.first_response_by)
            text = (
                _(
                    "%(owner)s has got this and will get back to you within %(within)s of "
                    "working time (by %(by)s)."
                )
                if self.owner_name
                else _(
                    "Someone from %(department)s will pick it up and get back to you within "
                    "%(within)s of working time (by %(by)s)."
                )
            )
        elif self.owner_name:
            text = _("%(owner)s has got this and will get back to you within %(within)s.")
        else:
            text = _(
                "Someone from %(department)s will pick it up and get back to you within %(within)s."
            )
        return text % facts


@dataclass(frozen=True, kw_only=True)
class AssignmentContext(TicketMailContext):
    """Sent to the new owner; ``assigned_by`` (a name) is None when the assignment policy
    chose. ``handover_note`` is what the member who handed it over wrote for them."""

    assigned_by: str | None = None
    handover_note: str = ""
    files: tuple[RequestFile, ...] = ()
    commands: tuple[CommandHelp, ...] = REPLY_COMMANDS


@dataclass(frozen=True, kw_only=True)
class StatusUpdateContext(TicketMailContext):
    """Sent to the requester side when the status changes; ``changed_by`` is a name and
    ``waiting_on`` who a pending ticket waits for ("" when it is the requester)."""

    old_status: str
    new_status: str
    changed_by: str
    waiting_on: str = ""

    @property
    def headline(self) -> str:
        """What happened, in one sentence: "Alice Hart has put your request HR-4 on hold."."""
        facts = {"actor": self.changed_by, "ref": self.ref, "requester": self.requester_name}
        return headline_text(self.old_status, self.new_status, self.for_requester) % facts

    @property
    def next_step(self) -> str:
        waiting = waiting_on_text(self.waiting_on)
        if self.new_status == "pending" and not waiting and not self.for_requester:
            return _("We need a little more from %(requester)s to go on.") % {
                "requester": self.requester_name
            }
        return next_step_for(self.new_status, self.waiting_on)


@dataclass(frozen=True, kw_only=True)
class ReplyRelayContext(TicketMailContext):
    """A person's reply passed on: member -> requester, or requester -> owner."""

    author: str
    author_name: str
    reply_text: str
    attachment_names: tuple[str, ...] = ()
    audience: Audience = "requester"
    external: bool = False
    """From someone outside the conversation (a stranger, or a member's address that could
    not be verified): shown to the department with a warning, never to the requester."""


@dataclass(frozen=True, slots=True)
class CommandOutcome:
    """One command line from a reply and what became of it (or why it was refused)."""

    command: str
    detail: str


@dataclass(frozen=True, kw_only=True)
class CommandResultContext(TicketMailContext):
    """Sent to whoever wrote commands: which were applied and which were refused, and why."""

    applied: tuple[CommandOutcome, ...] = ()
    refused: tuple[CommandOutcome, ...] = ()

    @property
    def ticket_state(self) -> str:
        return ticket_state_text(self.status, self.priority, self.owner_name)


@dataclass(frozen=True, kw_only=True)
class FeedbackRequestContext(TicketMailContext):
    """Sent to the requester when the ticket is resolved."""

    resolved_by: str | None = None
    resolved_by_recipient: bool = False
    """The requester resolved it themselves (``#resolve``): the mail says "you", not
    their own name."""
    rating_scale: tuple[RatingLevel, ...] = RATING_SCALE

    @property
    def rating_links(self) -> tuple[tuple[RatingLevel, str], ...]:
        """Each rating with the page that offers it ("" links without web pages). The page
        only asks; a mail scanner following every link records nothing."""
        return tuple(
            (level, f"{self.page_link}/rate/{level.value}" if self.page_link else "")
            for level in self.rating_scale
        )


@dataclass(frozen=True, kw_only=True)
class SlaWarningContext(TicketMailContext):
    """Sent to the owner (or department) before a service-level target is missed."""

    target: SlaTarget
    due_at: datetime
    remaining: timedelta

    @property
    def target_label(self) -> str:
        return sla_target_label(self.target)

    @property
    def remaining_text(self) -> str:
        return describe_duration(self.remaining)


@dataclass(frozen=True, kw_only=True)
class EscalationContext(TicketMailContext):
    """Sent to the department when a service-level target was missed."""

    target: SlaTarget
    due_at: datetime
    overdue_by: timedelta = field(default_factory=timedelta)

    @property
    def target_label(self) -> str:
        return sla_target_label(self.target)

    @property
    def clock_help(self) -> tuple[str, str]:
        return clock_help(self.requester_name, self.owner is not None, whole_team=True)

    @property
    def overdue_text(self) -> str:
        return describe_duration(self.overdue_by)


@dataclass(frozen=True, kw_only=True)
class RequesterUnreachableContext(TicketMailContext):
    """Sent to the owner (or the department) when mail to the requester came back for good:
    nothing sent on the ticket reaches them until someone finds another way."""

    failed_address: str
    failed_mail: str
    """Which mail came back, in the reader's words ("the acknowledgement")."""
    delivery_status: str = ""
    """The RFC 3463 code the report gave (5.1.1), or empty."""
    diagnostic: str = ""


@dataclass(frozen=True, kw_only=True)
class QuarantineAlertContext(MailContext):
    """Sent to the admins when a mail could not be turned into work. Not about a ticket."""

    quarantine_id: int
    reason: str
    message_id: str | None
    from_address: str | None
    subject: str | None
    received_at: datetime

    @property
    def retry_command(self) -> str:
        return f"aliasdesk quarantine retry {self.quarantine_id}"


@dataclass(frozen=True, kw_only=True)
class RoutingRefusedContext(MailContext):
    """Sent to the admins when an edited routing file was refused on reload.

    The previous valid rules stay in force, so nothing visibly breaks: without this mail
    the admin who made the edit may never notice that it did not take effect.
    """

    path: str
    problems: tuple[str, ...]
    refused_at: datetime

    @property
    def check_command(self) -> str:
        return f"aliasdesk rules check {self.path}"


@dataclass(frozen=True, kw_only=True)
class OutsideMailHeldContext(MailContext):
    """Sent to the admins once when automatic mail to outside addresses passed the limit
    a minute and further such mail is being held (not dropped): a loop or a flood is the
    usual cause, and only an admin can find and stop it."""

    per_minute: int
    opened_at: datetime
    held: int
    recipients: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class UnverifiedMemberContext(TicketMailContext):
    """Sent to a member whose address was on mail that could not be shown to be theirs:
    nothing it asked for was done. ``strict``: only DMARC counts at this site."""

    their_subject: str
    refused: tuple[str, ...] = ()
    strict: bool = False


@dataclass(frozen=True, kw_only=True)
class OutsideNoticeContext(MailContext):
    """Sent to someone outside a ticket who wrote commands on it. Deliberately NOT a
    ticket context: it may name nothing of the ticket (subject, owner, status, text),
    only what the recipient wrote themselves."""

    recipient_name: str
    their_subject: str
    department_name: str
    department_alias: str
    commands: tuple[str, ...] = ()

    @property
    def subject_line(self) -> str:
        subject = " ".join(self.their_subject.split())
        if not subject:
            return _("Re: your message")
        return subject if subject.lower().startswith("re:") else f"Re: {subject}"
