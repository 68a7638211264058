"""Firing SLA timers: a warning to the owner before a target is missed, an escalation to
the department and the admins when it is. Each timer row fires once: ``fired_at`` is set
in the same transaction as the notifications it queues, so a restart never fires twice."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from aliasdesk.db.models import SlaTimer, Ticket
from aliasdesk.db.session import Database
from aliasdesk.domain.organisation import RoutingConfig
from aliasdesk.services.notifications import queue_notification
from aliasdesk.services.tickets import add_event

ACTIVE = ("new", "open", "pending")


def fire_due_timers(db: Database, config: RoutingConfig, limit: int = 200) -> int:
    now = datetime.now(UTC)
    fired = 0
    with db.unit_of_work() as session:
        timers = session.scalars(
            select(SlaTimer)
            .where(SlaTimer.fired_at.is_(None), SlaTimer.due_at <= now)
            .order_by(SlaTimer.due_at)
            .limit(limit)
        ).all()
        for timer in timers:
            timer.fired_at = now
            ticket = session.get(Ticket, timer.ticket_id)
            if ticket is None or not _still_running(ticket, timer.kind):
                continue
            fired += _fire(session, ticket, timer, config, now)
    return fired


def _still_running(ticket: Ticket, kind: str) -> bool:
    if ticket.status not in ACTIVE:
        return False
    return not (kind.startswith("first_response") and ticket.first_response_at is not None)


def _fire(
    session: Session, ticket: Ticket, timer: SlaTimer, config: RoutingConfig, now: datetime
) -> int:
    department = config.departments.get(ticket.department)
    if department is None:
        return 0
    target, _, moment = timer.kind.rpartition("_")
    facts = {"target": target, "due_at": timer.due_at.isoformat()}
    domain = config.domains[0] if config.domains else "aliasdesk.invalid"
    if moment == "warning":
        recipients = [ticket.owner] if ticket.owner else list(department.available_members)
        kind = "sla_warning"
    else:
        recipients = list(dict.fromkeys([*department.members, *config.admins]))
        kind = "escalation"
        add_event(
            session,
            ticket,
            "escalated",
            "aliasdesk",
            f"{target.replace('_', ' ')} target missed",
            now,
        )
    for recipient in recipients:
        queue_notification(
            session,
            kind=kind,
            recipient=recipient,
            sender=department.primary_alias,
            cause=f"sla:{timer.id}",
            now=now,
            ticket=ticket,
            context=facts,
            domain=domain,
        )
    return 1
