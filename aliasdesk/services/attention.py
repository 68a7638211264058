"""An admin deals with what ``status`` counts as needing attention.

A failed delivery can be sent again (the very same bytes under the same Message-ID, so a
recipient who did get it after all sees one mail, not two different ones) or dismissed;
quarantined mail can be dismissed. Dismissing keeps every row and every raw byte: it only
stops the count, so the history of what went wrong stays readable.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from aliasdesk.db.models import Delivery, InboundMail, Job, Ticket
from aliasdesk.db.session import Database
from aliasdesk.services.reports import delivery_entry
from aliasdesk.services.tickets import add_event

ADMIN = "aliasdesk admin"


@dataclass(frozen=True)
class Handled:
    """What became of one id an admin named."""

    id: int
    done: bool
    detail: str


def retry_deliveries(db: Database, ids: Sequence[int]) -> list[Handled]:
    """Put failed deliveries back in the outbox, each in the same transaction as its job.

    The conditional UPDATE (only while still ``failed``) makes a second retry, or two
    admins at once, queue the mail once.
    """
    return _each_failed(db, ids, _retry)


def _retry(session: Session, delivery: Delivery, now: datetime) -> Handled:
    changed = session.execute(
        update(Delivery)
        .where(Delivery.id == delivery.id, Delivery.state == "failed")
        .values(state="pending", attempts=0, claimed_by=None, claimed_at=None)
        .values(dismissed_at=None)
        .execution_options(synchronize_session=False)
    )
    if changed.rowcount != 1:  # type: ignore[attr-defined]
        return Handled(delivery.id, False, f"not failed ({delivery.state})")
    session.add(
        Job(
            kind="deliver",
            ticket_id=delivery.ticket_id,
            delivery_id=delivery.id,
            available_at=now,
            created_at=now,
        )
    )
    _on_history(session, delivery, "queued again by an admin", now)
    return Handled(delivery.id, True, f"queued again as {delivery.message_id}")


def dismiss_deliveries(db: Database, ids: Sequence[int]) -> list[Handled]:
    """Stop counting failed deliveries as problems; the rows and their errors stay."""
    return _each_failed(db, ids, _dismiss)


def _dismiss(session: Session, delivery: Delivery, now: datetime) -> Handled:
    if delivery.dismissed_at is None:
        delivery.dismissed_at = now
        _on_history(session, delivery, "failure dismissed by an admin", now)
    return Handled(delivery.id, True, "dismissed")


def _each_failed(
    db: Database, ids: Sequence[int], act: Callable[[Session, Delivery, datetime], Handled]
) -> list[Handled]:
    """``act`` on each failed delivery an admin named, in one transaction; for the others,
    why there was nothing to do."""
    now = datetime.now(UTC)
    results: list[Handled] = []
    with db.unit_of_work() as session:
        for delivery_id in ids:
            delivery = _failed_delivery(session, delivery_id)
            if not isinstance(delivery, Handled):
                delivery = act(session, delivery, now)
            results.append(delivery)
    return results


def _failed_delivery(session: Session, delivery_id: int) -> Delivery | Handled:
    """The failed delivery an admin named, or why there is nothing to do about it."""
    delivery = session.get(Delivery, delivery_id)
    if delivery is None:
        return Handled(delivery_id, False, "no such delivery")
    if delivery.state != "failed":
        return Handled(delivery_id, False, f"not failed ({delivery.state})")
    return delivery


def _on_history(session: Session, delivery: Delivery, what: str, now: datetime) -> None:
    """The ticket's history says what an admin did about its mail."""
    ticket = session.get(Ticket, delivery.ticket_id) if delivery.ticket_id else None
    if ticket is not None:
        detail = f"{delivery.kind} to {delivery.recipient} ({delivery.message_id}): {what}"
        add_event(session, ticket, "note", ADMIN, detail, now)


def dismiss_quarantine(db: Database, ids: Sequence[int]) -> list[Handled]:
    """Stop counting quarantined mail as a problem; the raw mail stays for a later retry."""
    now = datetime.now(UTC)
    results: list[Handled] = []
    with db.unit_of_work() as session:
        found = {
            row.id: row
            for row in session.scalars(select(InboundMail).where(InboundMail.id.in_(list(ids))))
        }
        for inbound_id in ids:
            row = found.get(inbound_id)
            if row is None:
                results.append(Handled(inbound_id, False, "no such mail"))
            elif row.state != "quarantined":
                results.append(Handled(inbound_id, False, f"not in quarantine ({row.state})"))
            else:
                row.dismissed_at = row.dismissed_at or now
                results.append(Handled(inbound_id, True, "dismissed, raw mail kept"))
    return results


def list_deliveries(
    db: Database, *, failed_only: bool = False, limit: int = 200
) -> list[dict[str, object]]:
    """Outgoing mail, newest first, with what became of it."""
    query = (
        select(Delivery, Ticket)
        .outerjoin(Ticket, Ticket.id == Delivery.ticket_id)
        .order_by(Delivery.id.desc())
        .limit(limit)
    )
    if failed_only:
        query = query.where(Delivery.state == "failed")
    with db.reader() as session:
        return [
            {"ticket": t.ref if t is not None else None, **delivery_entry(d)}
            for d, t in session.execute(query).all()
        ]
