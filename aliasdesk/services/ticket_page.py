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
from aliasdesk.domain.languages import known_language
from aliasdesk.domain.organisation import RoutingConfig
from aliasdesk.mail.model import Address, ParsedMail
from aliasdesk.notify.language import MailLocale
from aliasdesk.notify.text import friendly_name
from aliasdesk.notify.wording import RATING_SCALE, RatingLevel
from aliasdesk.services.conversation import apply_reply
from aliasdesk.services.feedback import feedback_was_requested, try_record_feedback
from aliasdesk.services.languages import choose_own_language, mail_locale
from aliasdesk.services.tickets import add_event
from aliasdesk.services.transitions import change_status

REPLY_LIMIT = 20_000
"""Characters of a reply typed on the page; a mail would be cut the same way."""


@dataclass(frozen=True, slots=True)
class PageMessage:
    """One mail of the conversation; ``author`` is "" when the requester wrote it (the
    page calls them "you", in its own language)."""

    author: str
    at: datetime
    text: str
    from_requester: bool


@dataclass(frozen=True, slots=True)
class PageFile:
    name: str
    size: int


@dataclass(frozen=True, slots=True)
class TicketPage:
    """Everything the page template reads; no row object leaves the service.

    Nothing in it is worded yet: the page words the status, what happens next and the
    sizes as it renders, in ``locale`` (the language and zone of the requester's mail), so
    the words are the ones mail uses (``aliasdesk.notify.wording``)."""

    ref: str
    subject: str
    department_name: str
    status: str
    owner_name: str | None
    due_at: datetime | None
    due_kind: str
    """What ``due_at`` promises: "first_response" or "resolution"."""
    messages: tuple[PageMessage, ...]
    files: tuple[PageFile, ...]
    rating: int | None
    can_rate: bool
    can_solve: bool
    can_reply: bool
    locale: MailLocale
    rating_scale: tuple[RatingLevel, ...] = RATING_SCALE


def ticket_page(session: Session, ticket: Ticket, config: RoutingConfig) -> TicketPage:
    """The page of ``ticket`` as its requester may see it (reads only)."""
    department = config.departments.get(ticket.department)
    status = ticket.status
    due_kind = _due_kind(ticket)
    return TicketPage(
        ref=ticket.ref,
        subject=ticket.subject,
        department_name=department.name if department else ticket.department,
        status=status,
        owner_name=_name(config, ticket.owner) if ticket.owner else None,
        due_at=_due_at(session, ticket, due_kind),
        due_kind=due_kind,
        messages=_public_messages(session, ticket, config),
        files=_requester_files(session, ticket),
        rating=ticket.rating,
        can_rate=status in ("resolved", "closed") and feedback_was_requested(session, ticket),
        can_solve=status in ("new", "open", "pending"),
        can_reply=status != "closed",
        locale=mail_locale(session, config, ticket, ticket.requester, "requester"),
    )


def _name(config: RoutingConfig, address: str) -> str:
    return config.member_name(address) or friendly_name(address)


def _due_kind(ticket: Ticket) -> str:
    """The next promise the department made: the first answer, then the resolution."""
    return "first_response" if ticket.first_response_at is None else "resolution"


def _due_at(session: Session, ticket: Ticket, due_kind: str) -> datetime | None:
    if ticket.status not in ("new", "open", "pending"):
        return None
    kind = f"{due_kind}_breach"
    return session.scalar(
        select(SlaTimer.due_at).where(SlaTimer.ticket_id == ticket.id, SlaTimer.kind == kind)
    )


def _public_messages(
    session: Session, ticket: Ticket, config: RoutingConfig
) -> tuple[PageMessage, ...]:
    """Mail written on the ticket that the requester was meant to see.

    Internal rows (notes, watchers' and strangers' mail, unverified "members") are left
    out by the query itself; outgoing copies are left out because the answers they pass on are
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
            author="" if sender.lower() == requester else _name(config, sender),
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
    return tuple(PageFile(name, size) for name, size in rows)


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


def language_from_page(session: Session, ticket: Ticket, language: str, now: datetime) -> bool:
    """The requester chooses the language of their mail and page, as ``#lang`` from them
    would: kept for their address (every ticket from now on) and set on this ticket.
    False for a language aliasdesk does not write."""
    code = known_language(language)
    if code is None:
        return False
    choose_own_language(session, ticket.requester, code, now)
    ticket.language = code
    add_event(
        session, ticket, "note", ticket.requester, f"language for {ticket.requester}: {code}", now
    )
    return True
