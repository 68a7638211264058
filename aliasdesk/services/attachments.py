"""A ticket's attachments as admins see them: numbered 1, 2, … in the order they came in,
so ``tickets show`` and ``attachments get REF N`` agree on what N is."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from aliasdesk.db.models import StoredAttachment, Ticket, TicketMessage


def numbered(session: Session, ticket: Ticket) -> list[tuple[int, StoredAttachment]]:
    """Every attachment of the ticket's messages, oldest first, with its number.

    Ordered by the attachment's own id, which only grows: numbers stay the same as
    messages are added.
    """
    rows = session.scalars(
        select(StoredAttachment)
        .join(TicketMessage, TicketMessage.id == StoredAttachment.message_id)
        .where(TicketMessage.ticket_id == ticket.id)
        .order_by(StoredAttachment.id)
    ).all()
    return list(enumerate(rows, start=1))


def listing(session: Session, ticket: Ticket) -> list[dict[str, Any]]:
    """The ``attachments`` of ``tickets show --json`` (CONTRACT §4)."""
    return [
        {
            "n": n,
            "filename": row.filename,
            "size": row.size,
            "content_type": row.content_type,
            "kept": row.data is not None,
        }
        for n, row in numbered(session, ticket)
    ]


def by_number(session: Session, ticket: Ticket, n: int) -> StoredAttachment | None:
    return next((row for number, row in numbered(session, ticket) if number == n), None)
