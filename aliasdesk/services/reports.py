"""Read-only views for the CLI and scripts: the JSON objects of CONTRACT §4."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
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


LIST_CHUNK = 500
"""Tickets read at a time by :func:`iter_tickets`, with their message counts and links."""


def ticket_summary(session: Session, ticket: Ticket) -> dict[str, Any]:
    counts, links = _counts_and_links(session, [ticket.id])
    return _summary(ticket, counts.get(ticket.id, 0), links.get(ticket.id, []))


def _summary(ticket: Ticket, message_count: int, links: list[str]) -> dict[str, Any]:
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
        "message_count": message_count,
        "rating": ticket.rating,
        "rating_comment": ticket.rating_comment,
        "links": links,
    }


def _counts_and_links(
    session: Session, ids: Sequence[int]
) -> tuple[dict[int, int], dict[int, list[str]]]:
    """Messages per ticket, and the refs each is linked to (in ticket order): two queries
    for a whole chunk of tickets instead of two for every one."""
    rows = session.execute(
        select(TicketMessage.ticket_id, func.count())
        .where(TicketMessage.ticket_id.in_(ids))
        .group_by(TicketMessage.ticket_id)
    )
    counts = {ticket_id: int(count) for ticket_id, count in rows}
    links: dict[int, list[str]] = {}
    linked = session.execute(
        select(TicketLink.ticket_id, Ticket.department, Ticket.number)
        .join(Ticket, TicketLink.linked_id == Ticket.id)
        .where(TicketLink.ticket_id.in_(ids))
        .order_by(Ticket.id)
    )
    for ticket_id, department, number in linked:
        links.setdefault(ticket_id, []).append(f"{department}-{number}")
    return counts, links


def list_tickets(
    session: Session,
    department: str | None = None,
    status: str | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    return list(iter_tickets(session, department, status, limit))


def iter_tickets(
    session: Session,
    department: str | None = None,
    status: str | None = None,
    limit: int | None = None,
) -> Iterator[dict[str, Any]]:
    """Tickets newest first, every one of them unless ``limit`` (CONTRACT §1 sets none).
    Their ids are read first, then the tickets a chunk at a time, so a listing of many
    thousands neither holds them all in the session nor asks the database twice a ticket."""
    query = select(Ticket.id).order_by(Ticket.created_at.desc(), Ticket.id.desc())
    if department:
        query = query.where(Ticket.department == department.upper())
    if status:
        query = query.where(Ticket.status == status)
    if limit is not None:
        query = query.limit(limit)
    ids = session.scalars(query).all()
    for start in range(0, len(ids), LIST_CHUNK):
        chunk = ids[start : start + LIST_CHUNK]
        tickets = {t.id: t for t in session.scalars(select(Ticket).where(Ticket.id.in_(chunk)))}
        counts, links = _counts_and_links(session, chunk)
        for ticket_id in chunk:
            ticket = tickets.get(ticket_id)
            if ticket is not None:  # deleted meanwhile (retention): left out
                yield _summary(ticket, counts.get(ticket_id, 0), links.get(ticket_id, []))
        for ticket in tickets.values():
            if ticket not in session.dirty:  # a caller's own change stays in its session
                session.expunge(ticket)


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
