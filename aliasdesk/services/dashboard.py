"""What the leads' dashboard shows for one department: the service figures of a period
(:func:`department_figures`, as ``aliasdesk report --department`` counts them) and the
open queue per owner, the tickets most at risk of missing their SLA first.

Risk is read from the SLA timers stored with each ticket: a breach moment not fired yet
(the first-response one only while nobody has answered) is when the ticket is due; one
in the past, or escalated, makes it overdue. A ticket whose clock is paused (waiting on
the requester) is shown as such after the ones due.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from aliasdesk.db.models import SlaTimer, Ticket
from aliasdesk.domain.organisation import Department
from aliasdesk.notify.language import N_
from aliasdesk.services.service_figures import department_figures
from aliasdesk.services.sla import ESCALATED

PERIODS = {"week": N_("This week"), "4weeks": N_("Last 4 weeks")}
"""The periods a dashboard offers: the calendar week so far, and 28 days up to today
(their names are msgids, translated where they are shown)."""
OPEN_STATUSES = ("new", "open", "pending")


@dataclass(frozen=True, slots=True)
class QueuedTicket:
    """One open ticket as the queue lists it."""

    ref: str
    subject: str
    priority: str
    status: str
    due: datetime | None
    overdue: bool
    paused: bool

    @property
    def risk(self) -> tuple[int, datetime]:
        """Overdue first, then by due moment, then paused and untimed ones."""
        never = datetime.max.replace(tzinfo=self.due.tzinfo if self.due else None)
        if self.overdue:
            return 0, self.due or never
        if self.due is not None and not self.paused:
            return 1, self.due
        return 2, never if self.due is None else self.due


@dataclass
class OwnerQueue:
    owner: str | None
    tickets: list[QueuedTicket] = field(default_factory=list)


@dataclass(frozen=True)
class DepartmentView:
    """One department's part of the dashboard, for the period asked."""

    key: str
    name: str
    first_day: date
    last_day: date
    figures: dict[str, Any]
    queue: list[OwnerQueue]


def period_days(department: Department, period: str, now: datetime) -> tuple[date, date]:
    """The first and last day of ``period`` on the department's clock."""
    today = now.astimezone(ZoneInfo(department.calendar.timezone)).date()
    if period == "week":
        first = today - timedelta(days=today.weekday())
        return first, first + timedelta(days=6)
    return today - timedelta(days=27), today


def department_view(
    session: Session, department: Department, period: str, now: datetime
) -> DepartmentView:
    first, last = period_days(department, period, now)
    zone = ZoneInfo(department.calendar.timezone)
    since = datetime.combine(first, datetime.min.time(), tzinfo=zone)
    until = datetime.combine(last + timedelta(days=1), datetime.min.time(), tzinfo=zone)
    figures = department_figures(session, department.key, since, until)
    queue = open_queue(session, department.key, now)
    return DepartmentView(department.key, department.name, first, last, figures, queue)


def open_queue(session: Session, department: str, now: datetime) -> list[OwnerQueue]:
    """The department's open tickets per owner; owners with the riskiest ticket first."""
    where = (Ticket.department == department, Ticket.status.in_(OPEN_STATUSES))
    tickets = list(session.scalars(select(Ticket).where(*where)))
    due = _due_moments(session, tickets, select(Ticket.id).where(*where))
    owners: dict[str | None, OwnerQueue] = defaultdict(lambda: OwnerQueue(None))
    for ticket in tickets:
        moment, escalated = due.get(ticket.id, (None, False))
        paused = ticket.sla_paused_at is not None
        overdue = escalated or (moment is not None and moment <= now and not paused)
        item = QueuedTicket(
            ticket.ref, ticket.subject, ticket.priority, ticket.status, moment, overdue, paused
        )
        queue = owners[ticket.owner]
        queue.owner = ticket.owner
        queue.tickets.append(item)
    for queue in owners.values():
        queue.tickets.sort(key=lambda item: item.risk)
    return sorted(owners.values(), key=lambda queue: (queue.tickets[0].risk, queue.owner or "~"))


def _due_moments(
    session: Session, tickets: list[Ticket], ids: Select[Any]
) -> dict[int, tuple[datetime | None, bool]]:
    """Per ticket: the earliest breach moment still ahead of it, and whether one was
    escalated already."""
    answered = {ticket.id for ticket in tickets if ticket.first_response_at is not None}
    found: dict[int, tuple[datetime | None, bool]] = {}
    rows = session.execute(
        select(SlaTimer.ticket_id, SlaTimer.kind, SlaTimer.due_at, SlaTimer.outcome).where(
            SlaTimer.ticket_id.in_(ids), SlaTimer.kind.like("%breach")
        )
    )
    for ticket_id, kind, due_at, outcome in rows:
        if kind.startswith("first_response") and ticket_id in answered:
            continue
        moment, escalated = found.get(ticket_id, (None, False))
        earliest = due_at if moment is None or due_at < moment else moment
        found[ticket_id] = (earliest, escalated or outcome == ESCALATED)
    return found
