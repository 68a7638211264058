"""What a requester's ticket page shows, and what its forms do.

The page is the requester's view of their own ticket, so it shows exactly what mail
already told them: where the ticket stands, who has it, what happens next and by when,
the public conversation (their mail and the team's answers; never internal notes, never
mail from anyone outside the conversation) and the files they sent themselves.

Its forms change the ticket through the same services a mailed reply goes through: a
reply becomes a mail from the requester handed to ``apply_reply``; a rating is the
reply-with-a-digit of ``try_record_feedback``. So a page can do nothing a requester's
mail could not.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from aliasdesk.db.models import SlaTimer, StoredAttachment, Ticket, TicketMessage
from aliasdesk.domain.organisation import RoutingConfig
from aliasdesk.mail.model import Address, ParsedMail
from aliasdesk.notify.text import friendly_name
from aliasdesk.notify.wording import RATING_SCALE, RatingLevel, size_text
from aliasdesk.services.conversation import apply_reply
from aliasdesk.services.feedback import feedback_was_requested, try_record_feedback
from aliasdesk.services.transitions import change_status

REPLY_LIMIT = 20_000
"""Characters of a reply typed on the page; a mail would be cut the same way."""

STATUS_WORDS: dict[str, str] = {
    "new": "Received, waiting to be picked up",
    "open": "Being worked on",
    "pending": "On hold, waiting for an answer",
    "resolved": "Resolved",
    "closed": "Closed",
}

NEXT_STEP: dict[str, str] = {
    "new": "Someone from the team will pick your request up",
    "open": "The team is working on it and will write to you",
    "pending": "We need a little more from you to go on: add it below or reply to our mail",
    "resolved": "We believe this is done. Not so? Add a reply below and it opens again",
    "closed": "This request is closed. Write to the department again for anything new",
}


@dataclass(frozen=True, slots=True)
class PageMessage:
    author: str
    at: datetime
    text: str
    from_requester: bool


@dataclass(frozen=True, slots=True)
class PageFile:
    name: str
    size_text: str


@dataclass(frozen=True, slots=True)
class TicketPage:
    """Everything the page template reads; no row object leaves the service."""

    ref: str
    subject: str
    department_name: str
    status: str
    status_words: str
    owner_name: str | None
    next_step: str
    due_at: datetime | None
    messages: tuple[PageMessage, ...]
    files: tuple[PageFile, ...]
    rating: int | None
    can_rate: bool
    can_solve: bool
    can_reply: bool
    rating_scale: tuple[RatingLevel, ...] = RATING_SCALE


def ticket_page(session: Session, ticket: Ticket, config: RoutingConfig) -> TicketPage:
    """The page of ``ticket`` as its requester may see it (reads only)."""
    department = config.departments.get(ticket.department)
    status = ticket.status
    return TicketPage(
        ref=ticket.ref,
        subject=ticket.subject,
        department_name=department.name if department else ticket.department,
        status=status,
        status_words=STATUS_WORDS.get(status, status),
        owner_name=_name(config, ticket.owner) if ticket.owner else None,
        next_step=NEXT_STEP.get(status, ""),
        due_at=_due_at(session, ticket),
        messages=_public_messages(session, ticket, config),
        files=_requester_files(session, ticket),
        rating=ticket.rating,
        can_rate=status in ("resolved", "closed") and feedback_was_requested(session, ticket),
        can_solve=status in ("new", "open", "pending"),
        can_reply=status != "closed",
    )


def _name(config: RoutingConfig, address: str) -> str:
    return config.member_name(address) or friendly_name(address)


def _due_at(session: Session, ticket: Ticket) -> datetime | None:
    """The next promise the department made: the first answer, then the resolution."""
    if ticket.status not in ("new", "open", "pending"):
        return None
    kind = "first_response_breach" if ticket.first_response_at is None else "resolution_breach"
    return session.scalar(
        select(SlaTimer.due_at).where(SlaTimer.ticket_id == ticket.id, SlaTimer.kind == kind)
    )


def _public_messages(
    session: Session, ticket: Ticket, config: RoutingConfig
) -> tuple[PageMessage, ...]:
    """Mail written on the ticket that the requester was meant to see.

    Internal rows (notes, strangers' mail, unverified "members") are left out by the
    query itself; outgoing copies are left out because the answers they pass on are
    already here as the member's own mail.
    """
    rows = session.execute(
        select(TicketMessage.from_address, TicketMessage.at, TicketMessage.text)
        .where(
            TicketMessage.ticket_id == ticket.id,
            TicketMessage.internal.is_(False),
            TicketMessage.direction == "in",
        )
        .order_by(TicketMessage.id)
    )
    requester = ticket.requester.lower()
    return tuple(
        PageMessage(
            author="You" if sender.lower() == requester else _name(config, sender),
            at=at,
            text=text,
            from_requester=sender.lower() == requester,
        )
        for sender, at, text in rows
    )


def _requester_files(session: Session, ticket: Ticket) -> tuple[PageFile, ...]:
    rows = session.execute(
        select(StoredAttachment.filename, StoredAttachment.size)
        .join(TicketMessage, TicketMessage.id == StoredAttachment.message_id)
        .where(
            TicketMessage.ticket_id == ticket.id,
            TicketMessage.internal.is_(False),
            TicketMessage.from_address == ticket.requester,
            StoredAttachment.inline.is_(False),
        )
        .order_by(StoredAttachment.id)
    )
    return tuple(PageFile(name, size_text(size)) for name, size in rows)


def _mail_from_page(
    ticket: Ticket, text: str, config: RoutingConfig, message_id: str | None = None
) -> ParsedMail:
    """The page's words as the mail the requester could have sent instead."""
    return ParsedMail(
        message_id=message_id or page_message_id(secrets.token_hex(16), config),
        from_=Address(ticket.requester, ticket.requester_name or ""),
        subject=f"Re: [{ticket.ref}] {ticket.subject}",
        text=text[:REPLY_LIMIT],
    )


def page_message_id(unique: str, config: RoutingConfig) -> str:
    domain = config.domains[0] if config.domains else "aliasdesk.invalid"
    return f"<page.{unique}@{domain}>"


def reply_from_page(
    session: Session,
    ticket: Ticket,
    text: str,
    config: RoutingConfig,
    now: datetime,
    message_id: str | None = None,
) -> str:
    """Add the requester's reply from the page as their mail would be added; returns
    what happened, in words."""
    if not text.strip():
        return "There was nothing to add."
    mail = _mail_from_page(ticket, text, config, message_id)
    outcome = apply_reply(session, ticket, mail, config=config, inbound_id=None, now=now)
    return outcome.reason


def solve_from_page(session: Session, ticket: Ticket, config: RoutingConfig, now: datetime) -> bool:
    """The requester says it is solved: the ticket is resolved, as the owner could."""
    result = change_status(
        session,
        ticket,
        "resolved",
        actor=ticket.requester,
        config=config,
        cause=f"page:{ticket.ref}",
        now=now,
        why="marked solved by the requester on the ticket page",
    )
    return result.changed


def rate_from_page(
    session: Session,
    ticket: Ticket,
    rating: int,
    comment: str,
    config: RoutingConfig,
    now: datetime,
) -> bool:
    """Record a rating as the reply "<digit> <comment>" would be; False when the ticket
    takes no rating (not resolved yet, or never asked)."""
    if rating not in range(1, 6):
        return False
    text = f"{rating} {' '.join(comment.split())}".strip()
    mail = _mail_from_page(ticket, text, config)
    return try_record_feedback(session, ticket, mail, config=config, inbound_id=None, now=now)
