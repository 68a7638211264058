"""Read-only views for the CLI and scripts: the JSON objects of CONTRACT §4."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from aliasdesk.db.models import (
    Delivery,
    InboundMail,
    Ticket,
    TicketEvent,
    TicketLink,
    TicketMessage,
    Watcher,
)
from aliasdesk.services import attachments


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def ticket_summary(session: Session, ticket: Ticket) -> dict[str, Any]:
    links = session.scalars(
        select(Ticket)
        .join(TicketLink, TicketLink.linked_id == Ticket.id)
        .where(TicketLink.ticket_id == ticket.id)
        .order_by(Ticket.id)
    ).all()
    count = session.scalar(
        select(func.count()).select_from(TicketMessage).where(TicketMessage.ticket_id == ticket.id)
    )
    return {
        "ref": ticket.ref,
        "department": ticket.department,
        "status": ticket.status,
        "priority": ticket.priority,
        "subject": ticket.subject,
        "requester": ticket.requester,
        "owner": ticket.owner,
        "created_at": iso(ticket.created_at),
        "updated_at": iso(ticket.updated_at),
        "message_count": int(count or 0),
        "rating": ticket.rating,
        "rating_comment": ticket.rating_comment,
        "links": [t.ref for t in links],
    }


def list_tickets(
    session: Session, department: str | None = None, status: str | None = None, limit: int = 1000
) -> list[dict[str, Any]]:
    query = select(Ticket).order_by(Ticket.created_at.desc(), Ticket.id.desc()).limit(limit)
    if department:
        query = query.where(Ticket.department == department.upper())
    if status:
        query = query.where(Ticket.status == status)
    return [ticket_summary(session, t) for t in session.scalars(query)]


def show_ticket(session: Session, ticket: Ticket) -> dict[str, Any]:
    data = ticket_summary(session, ticket)
    data["messages"] = [
        {
            "direction": m.direction,
            "internal": m.internal,
            "from": m.from_address,
            "to": json.loads(m.to_addresses or "[]"),
            "subject": m.subject,
            "message_id": m.message_id,
            "at": iso(m.at),
            "text": m.text,
        }
        for m in session.scalars(
            select(TicketMessage)
            .where(TicketMessage.ticket_id == ticket.id)
            .order_by(TicketMessage.at, TicketMessage.id)
        )
    ]
    data["events"] = [
        {"at": iso(e.at), "kind": e.kind, "actor": e.actor, "detail": e.detail}
        for e in session.scalars(
            select(TicketEvent).where(TicketEvent.ticket_id == ticket.id).order_by(TicketEvent.id)
        )
    ]
    data["first_response_at"] = iso(ticket.first_response_at)
    data["resolved_at"] = iso(ticket.resolved_at)
    # The same figures in business seconds of the department's calendar, and reopens.
    data["first_response_s"] = ticket.first_response_s
    data["resolution_s"] = ticket.resolution_s
    data["reopen_count"] = ticket.reopen_count
    data["language"] = ticket.language  # the requester's mail; null: not chosen yet
    data["watchers"] = list(
        session.scalars(
            select(Watcher.address).where(Watcher.ticket_id == ticket.id).order_by(Watcher.address)
        )
    )
    data["attachments"] = attachments.listing(session, ticket)
    data["deliveries"] = [
        delivery_entry(d)
        for d in session.scalars(
            select(Delivery).where(Delivery.ticket_id == ticket.id).order_by(Delivery.id)
        )
    ]
    return data


def delivery_entry(delivery: Delivery) -> dict[str, Any]:
    """One outgoing mail and what became of it (``tickets show``, ``deliveries list``)."""
    return {
        "id": delivery.id,
        "kind": delivery.kind,
        "recipient": delivery.recipient,
        "state": delivery.state,
        "message_id": delivery.message_id,
        "attempts": delivery.attempts,
        "error": delivery.last_error,
        "created_at": iso(delivery.created_at),
        "sent_at": iso(delivery.sent_at),
        "dismissed_at": iso(delivery.dismissed_at),
    }


def mail_entry(row: InboundMail) -> dict[str, Any]:
    refs = json.loads(row.ticket_refs or "[]")
    return {
        "id": row.id,
        "message_id": row.message_id,
        "from": row.from_address,
        "subject": row.subject,
        "received_at": iso(row.received_at),
        "outcome": row.outcome or "received",
        "ticket": refs[0] if refs else None,
        "tickets": refs,
        "reason": row.reason or "",
        "size": row.size,
        "source": row.source,
    }


def list_mail(session: Session, limit: int = 100) -> list[dict[str, Any]]:
    rows = session.scalars(select(InboundMail).order_by(InboundMail.id.desc()).limit(limit))
    return [mail_entry(r) for r in rows]


def list_quarantine(session: Session) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(InboundMail)
        .where(InboundMail.state == "quarantined")
        .order_by(InboundMail.id.desc())
    )
    return [
        {
            "id": r.id,
            "reason": r.reason or "",
            "received_at": iso(r.received_at),
            "message_id": r.message_id,
            "from": r.from_address,
            "subject": r.subject,
            "size": r.size,
        }
        for r in rows
    ]
