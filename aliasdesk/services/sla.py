"""Firing SLA timers: a warning to the owner before a target is missed, an escalation to
the department and the admins when it is.

Each timer row fires once. A timer is taken with a conditional UPDATE (``fired_at`` from
NULL to now) in the same transaction as the notifications it queues: two relays (the
gateway and a worker) may look at the same due timer, but only the one whose UPDATE hit
the row sends anything, and a restart finds it fired. A timer that finds nothing to do
(the first response already happened, the ticket is resolved) is marked fired all the
same, so it is never looked at again.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from aliasdesk.db.models import SlaTimer, Ticket
from aliasdesk.db.session import Database
from aliasdesk.domain.organisation import Department, RoutingConfig
from aliasdesk.services.notifications import MESSAGE_ID_DOMAIN, queue_notification
from aliasdesk.services.tickets import add_event, department_sender

log = logging.getLogger("aliasdesk.sla")
ACTIVE = ("new", "open", "pending")


def fire_due_timers(
    db: Database, config: RoutingConfig, limit: int = 200, now: datetime | None = None
) -> int:
    """Fire every due timer; returns how many sent a warning or an escalation."""
    now = now or datetime.now(UTC)
    fired = 0
    with db.unit_of_work() as session:
        due = session.scalars(
            select(SlaTimer.id)
            .where(SlaTimer.fired_at.is_(None), SlaTimer.due_at <= now)
            .order_by(SlaTimer.due_at, SlaTimer.id)
            .limit(limit)
        ).all()
        for timer_id in due:
            timer = _take(session, timer_id, now)
            if timer is None:
                continue
            ticket = session.get(Ticket, timer.ticket_id)
            if ticket is None or not _still_running(session, ticket, timer, now):
                continue
            fired += _fire(session, ticket, timer, config, now)
    return fired


def _take(session: Session, timer_id: int, now: datetime) -> SlaTimer | None:
    """This relay's claim on the timer; None when another one fired it meanwhile."""
    taken = session.execute(
        update(SlaTimer)
        .where(SlaTimer.id == timer_id, SlaTimer.fired_at.is_(None))
        .values(fired_at=now)
        .execution_options(synchronize_session=False)
    )
    if taken.rowcount != 1:  # type: ignore[attr-defined]
        return None
    return session.get(SlaTimer, timer_id, populate_existing=True)


def _still_running(session: Session, ticket: Ticket, timer: SlaTimer, now: datetime) -> bool:
    """Whether the target the timer watches can still be missed.

    A warning whose breach is already due (the relay was down for a while) is skipped:
    "30 minutes left" about a missed target is wrong, and the escalation follows at once.
    """
    if ticket.status not in ACTIVE:
        return False
    target, _, moment = timer.kind.rpartition("_")
    if target == "first_response" and ticket.first_response_at is not None:
        return False
    if moment == "warning":
        breach = session.scalar(
            select(SlaTimer.due_at).where(
                SlaTimer.ticket_id == ticket.id, SlaTimer.kind == f"{target}_breach"
            )
        )
        if breach is not None and breach <= now:
            return False
    return True


def _fire(
    session: Session, ticket: Ticket, timer: SlaTimer, config: RoutingConfig, now: datetime
) -> int:
    department = config.departments.get(ticket.department)
    if department is None:
        log.warning("event=sla_skipped ticket=%s reason=department gone", ticket.ref)
        return 0
    target, _, moment = timer.kind.rpartition("_")
    facts = {"target": target, "due_at": timer.due_at.isoformat()}
    if moment == "warning":
        kind, recipients = "sla_warning", _warned(ticket, department)
    else:
        kind = "escalation"
        recipients = list(dict.fromkeys([*department.members, *config.admins]))
        label = target.replace("_", " ")
        add_event(session, ticket, "escalated", "aliasdesk", f"{label} target missed", now)
    for recipient in recipients:
        queue_notification(
            session,
            kind=kind,
            recipient=recipient,
            sender=department_sender(ticket, config),
            cause=f"sla:{timer.id}",
            now=now,
            ticket=ticket,
            context=facts,
            domain=config.domains[0] if config.domains else MESSAGE_ID_DOMAIN,
        )
    log.info("event=sla_%s ticket=%s target=%s to=%d", moment, ticket.ref, target, len(recipients))
    return 1


def _warned(ticket: Ticket, department: Department) -> list[str]:
    """The owner; without one, everyone who could take the ticket."""
    return [ticket.owner] if ticket.owner else list(department.available_members)
