"""Where an inbound mail goes, decided before anything is written.

The persist stage (aliasdesk.inbound.stages.persist) looks at the mail, its thread and the
routing decision and says what to do; the filing service (aliasdesk.services.filing) does
it. The decision is plain data, so what a mail would do can be read, logged and tested
apart from the rows it writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

__all__ = [
    "NO_SUBJECT",
    "SUBJECT_LIMIT",
    "AddToTicket",
    "Filing",
    "OpenTickets",
    "Requester",
    "ticket_subject",
]

NO_SUBJECT = "(no subject)"
SUBJECT_LIMIT = 1000


def ticket_subject(subject: str) -> str:
    """The subject a new ticket stores for a mail's: trimmed, cut to SUBJECT_LIMIT
    characters, "(no subject)" for none. ``aliasdesk import``'s helper process builds the
    text it classifies from the same value, so its result is found for that ticket."""
    return (subject.strip() or NO_SUBJECT)[:SUBJECT_LIMIT]


@dataclass(frozen=True)
class Requester:
    """Who a new ticket is for, when that is not simply the mail's sender (a forward)."""

    address: str
    name: str = ""
    subject: str | None = None
    origin_message_id: str | None = None
    opened_by: str | None = None


@dataclass(frozen=True)
class AddToTicket:
    """The mail answers an open ticket, or a verified member writes on a closed one."""

    ticket_id: int
    verified: bool
    """The sender is a member of the ticket's department and shown to be them."""
    at: datetime
    requester_verified: bool = False
    """The sender is the ticket's requester and shown to be them: only then may their
    ``#resolve`` settle the request (anyone can write a requester's address)."""


@dataclass(frozen=True)
class OpenTickets:
    """The mail opens a ticket in each department the routing named.

    ``replaces``: the closed ticket the mail answered. Its requester may be rating it;
    only if the mail is no rating are new tickets opened, each linked to the closed one.
    """

    departments: tuple[str, ...]
    priority: str | None
    reason: str
    """Why routing chose these departments, for the inbound log."""
    text: str
    requester: Requester | None
    forwarders_note: str
    """What a forwarding member wrote above the forward: an internal note, not the request."""
    replaces: int | None
    at: datetime


Filing = AddToTicket | OpenTickets
