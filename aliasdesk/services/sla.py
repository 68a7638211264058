"""Firing SLA timers: a warning to the owner before a target is missed, an escalation to
the department and the admins when it is.

Each timer row fires once. A timer is taken with a conditional UPDATE (``fired_at`` from
NULL to now) in the same transaction as the notifications it queues: two relays (the
gateway and a worker) may look at the same due timer, but only the one whose UPDATE hit
the row sends anything, and a restart finds it fired. A timer that finds nothing to do
(the first response already happened, the ticket is resolved) is marked fired all the
same, so it is never looked at again; its ``outcome`` says why, and only a timer whose
outcome is ``escalated`` counts as a breach.

The clock itself (when targets fall due in the department's business time, how a pause
moves them) is :mod:`aliasdesk.domain.sla_clock`; this module only stores and fires its
moments. A ticket in a status of the department's ``sla.pause_on`` (``pending``, waiting
on the requester, unless the routing file says otherwise) has its clock stopped: its
timers are not looked at, and when it leaves that status (the requester's answer reopens
it) the due moments move on by the business time it spent waiting. Imported history
(mail taken in without sending) starts no clock.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.orm import Session

from aliasdesk.db.bulk import table_of
from aliasdesk.db.models import SlaTimer, Ticket
from aliasdesk.db.session import Database
from aliasdesk.db.unit_of_work import work_of
from aliasdesk.domain.calendars import business_between, shifted_due
from aliasdesk.domain.organisation import Department, RoutingConfig
from aliasdesk.domain.sla_clock import calendar_of, due_moments, targets_for
from aliasdesk.notify.catalogue.sla import ESCALATION, SLA_WARNING
from aliasdesk.services.notifications import MESSAGE_ID_DOMAIN, queue_notification
from aliasdesk.services.tickets import add_event, department_sender

log = logging.getLogger("aliasdesk.sla")
ACTIVE = ("new", "open", "pending")
ESCALATED = "escalated"
_TIMERS = table_of(SlaTimer)


def start_clocks(session: Session, ticket: Ticket, config: RoutingConfig) -> None:
    """The warning and breach timers of a new ticket's targets, from its creation.

    A department that stops the clock for ``new`` tickets starts it stopped.
    """
    department = config.departments.get(ticket.department)
    targets = targets_for(department, ticket.priority)
    moments = due_moments(ticket.created_at, targets, calendar_of(department))
    # Through the transaction's row buffer: a batch's timers go in with one multi-row
    # INSERT, written before any query could look for them (aliasdesk.db.bulk).
    rows = work_of(session).rows
    for kind, due in moments:
        rows.insert(_TIMERS, {"ticket_id": ticket.id, "kind": kind, "due_at": due})
    if department is not None and ticket.status in department.sla_pause_on:
        pause_clock(ticket, ticket.created_at)


def follow_status(session: Session, ticket: Ticket, config: RoutingConfig, now: datetime) -> None:
    """Stop the clock in a status the department pauses on, run it again in any other."""
    department = config.departments.get(ticket.department)
    pause_on = department.sla_pause_on if department is not None else ("pending",)
    if ticket.status in pause_on:
        pause_clock(ticket, now)
    else:
        resume_clock(session, ticket, config, now)


def pause_clock(ticket: Ticket, now: datetime) -> None:
    """The ticket waits on the requester: its timers stop until :func:`resume_clock`."""
    if ticket.sla_paused_at is None:
        ticket.sla_paused_at = now


def resume_clock(session: Session, ticket: Ticket, config: RoutingConfig, now: datetime) -> None:
    """The ticket no longer waits: every timer not fired yet keeps the business time it had
    left, and the pause is added to the ticket's stopped time (which its figures leave out)."""
    paused_at, ticket.sla_paused_at = ticket.sla_paused_at, None
    if paused_at is None:
        return
    calendar = calendar_of(config.departments.get(ticket.department))
    stopped = business_between(calendar, paused_at, now)
    ticket.sla_paused_s = (ticket.sla_paused_s or 0) + int(stopped / timedelta(seconds=1))
    # Moved in Python, a handful of rows: SQLite has no date arithmetic on its columns.
    for timer in session.scalars(
        select(SlaTimer).where(SlaTimer.ticket_id == ticket.id, SlaTimer.fired_at.is_(None))
    ):
        timer.due_at = shifted_due(calendar, timer.due_at, paused_at, now)
    log.info("event=sla_resumed ticket=%s paused_s=%d", ticket.ref, stopped.total_seconds())


def breached() -> tuple[ColumnElement[bool], ...]:
    """Where-clauses for the timers that are real breaches: escalated, not merely fired."""
    return SlaTimer.kind.like("%breach"), SlaTimer.outcome == ESCALATED


def fire_due_timers(
    db: Database, config: RoutingConfig, limit: int = 200, now: datetime | None = None
) -> int:
    """Fire every due timer; returns how many sent a warning or an escalation."""
    now = now or datetime.now(UTC)
    fired = 0
    with db.unit_of_work() as session:
        due = session.scalars(
            select(SlaTimer.id)
            .join(Ticket, Ticket.id == SlaTimer.ticket_id)
            .where(
                SlaTimer.fired_at.is_(None),
                SlaTimer.due_at <= now,
                Ticket.sla_paused_at.is_(None),  # waiting on the requester: clock stopped
            )
            .order_by(SlaTimer.due_at, SlaTimer.id)
            .limit(limit)
        ).all()
        for timer_id in due:
            timer = _take(session, timer_id, now)
            if timer is None:
                continue
            ticket = session.get(Ticket, timer.ticket_id)
            moot = "closed" if ticket is None else _moot(session, ticket, timer, now)
            if ticket is None or moot is not None:
                timer.outcome = moot
                continue
            fired += _fire(session, ticket, timer, config, now)
    return fired


def _take(session: Session, timer_id: int, now: datetime) -> SlaTimer | None:
    """This relay's claim on the timer; None when another one fired it meanwhile."""
    taken = session.execute(
        update(SlaTimer)
        .where(
            SlaTimer.id == timer_id,
            SlaTimer.fired_at.is_(None),
            # Paused since the timers were listed: leave it for after the pause.
            select(Ticket.id)
            .where(Ticket.id == SlaTimer.ticket_id, Ticket.sla_paused_at.is_(None))
            .exists(),
        )
        .values(fired_at=now)
        .execution_options(synchronize_session=False)
    )
    if taken.rowcount != 1:  # type: ignore[attr-defined]
        return None
    return session.get(SlaTimer, timer_id, populate_existing=True)


def _moot(session: Session, ticket: Ticket, timer: SlaTimer, now: datetime) -> str | None:
    """Why the target the timer watches can no longer be missed; None while it can.

    A warning whose breach is already due (the relay was down for a while) is skipped
    ("late"): "30 minutes left" about a missed target is wrong, and the escalation
    follows at once.
    """
    if ticket.status not in ACTIVE:
        return "closed"
    target, _, moment = timer.kind.rpartition("_")
    if target == "first_response" and ticket.first_response_at is not None:
        return "met"
    if moment == "warning":
        breach = session.scalar(
            select(SlaTimer.due_at).where(
                SlaTimer.ticket_id == ticket.id, SlaTimer.kind == f"{target}_breach"
            )
        )
        if breach is not None and breach <= now:
            return "late"
    return None


def _fire(
    session: Session, ticket: Ticket, timer: SlaTimer, config: RoutingConfig, now: datetime
) -> int:
    department = config.departments.get(ticket.department)
    if department is None:
        log.warning("event=sla_skipped ticket=%s reason=department gone", ticket.ref)
        timer.outcome = "closed"
        return 0
    target, _, moment = timer.kind.rpartition("_")
    # The mail says when in the department's own time zone (its calendar's).
    facts = {
        "target": target,
        "due_at": timer.due_at.isoformat(),
        "timezone": department.calendar.timezone,
    }
    if moment == "warning":
        kind, recipients = SLA_WARNING.name, _warned(ticket, department)
        timer.outcome = "warned"
    else:
        kind = ESCALATION.name
        timer.outcome = ESCALATED
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
