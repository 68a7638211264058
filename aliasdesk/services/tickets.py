"""Opening tickets and recording what happens to them (messages, events, links)."""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from aliasdesk.db.models import (
    Job,
    StoredAttachment,
    Ticket,
    TicketEvent,
    TicketLink,
    TicketMessage,
    Watcher,
)
from aliasdesk.db.queries import next_ticket_number
from aliasdesk.domain.organisation import RoutingConfig
from aliasdesk.mail.model import Attachment, ParsedMail

SUBJECT_FALLBACK = "(no subject)"


def add_event(
    session: Session, ticket: Ticket, kind: str, actor: str, detail: str, now: datetime
) -> None:
    session.add(TicketEvent(ticket_id=ticket.id, kind=kind, actor=actor, detail=detail, at=now))
    ticket.updated_at = now


def add_message(
    session: Session,
    ticket: Ticket,
    mail: ParsedMail,
    *,
    text: str,
    internal: bool,
    inbound_id: int | None,
    now: datetime,
) -> TicketMessage:
    """Store the new text of an inbound mail on a ticket, with its attachments."""
    sender = mail.from_.address if mail.from_ else ""
    message = TicketMessage(
        ticket_id=ticket.id,
        direction="in",
        internal=internal,
        from_address=sender,
        to_addresses=json.dumps([a.address for a in mail.to + mail.cc]),
        subject=mail.subject,
        message_id=mail.message_id,
        text=text,
        inbound_id=inbound_id,
        at=now,
    )
    session.add(message)
    session.flush()
    _store_attachments(session, message, mail.attachments)
    ticket.updated_at = now
    return message


def _store_attachments(
    session: Session, message: TicketMessage, attachments: Sequence[Attachment]
) -> None:
    for item in attachments:
        session.add(
            StoredAttachment(
                message_id=message.id,
                filename=item.filename,
                content_type=item.content_type,
                size=item.size,
                data=item.data,
                inline=item.inline,
            )
        )


def open_ticket(
    session: Session,
    *,
    department: str,
    mail: ParsedMail,
    text: str,
    priority: str | None,
    config: RoutingConfig,
    inbound_id: int | None,
    now: datetime,
    send_mail: bool = True,
) -> Ticket:
    """Create the ticket, its first message and event, watchers, and the assignment job."""
    requester = mail.from_.address if mail.from_ else ""
    ticket = Ticket(
        department=department,
        number=next_ticket_number(session, department),
        subject=(mail.subject.strip() or SUBJECT_FALLBACK)[:1000],
        requester=requester,
        requester_name=(mail.from_.name if mail.from_ else "")[:255],
        status="new",
        priority=priority or "normal",
        reply_token=secrets.token_hex(8),
        origin_message_id=mail.message_id,
        created_at=now,
        updated_at=now,
    )
    session.add(ticket)
    session.flush()
    add_message(session, ticket, mail, text=text, internal=False, inbound_id=inbound_id, now=now)
    add_event(session, ticket, "created", requester, f"opened from mail to {department}", now)
    for address in _watchers(mail, config, requester):
        session.add(Watcher(ticket_id=ticket.id, address=address))
    session.add(
        Job(
            kind="ticket_created",
            ticket_id=ticket.id,
            payload=json.dumps({"send_mail": send_mail}),
            available_at=now,
            created_at=now,
        )
    )
    return ticket


def _watchers(mail: ParsedMail, config: RoutingConfig, requester: str) -> list[str]:
    """People copied on the request, who are neither us nor the requester."""
    aliases = config.all_aliases()
    seen: list[str] = []
    for address in (a.address for a in mail.cc + mail.to):
        if address and address != requester and address not in aliases and address not in seen:
            seen.append(address)
    return seen[:20]


def link_tickets(session: Session, tickets: Sequence[Ticket]) -> None:
    for ticket in tickets:
        for other in tickets:
            if ticket.id != other.id:
                session.add(TicketLink(ticket_id=ticket.id, linked_id=other.id))
