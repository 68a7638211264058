"""Leads' weekly report: once a week, at the routing file's ``weekly_report`` time in the
department's zone, each lead gets their department's figures for the seven days before,
beside the seven days before those and the targets, with charts.

The figures are :func:`department_figures` for the same period, the very group
``aliasdesk report --department KEY --since … --until …`` prints; the tickets per day
are the same figures asked day by day. Only the first-response distribution against the
target is asked here, with one grouped count. Everything is stored with the delivery,
so the mail (and any resend of it) shows what was true when it was queued.

As with the digest, the delivery's key (cause ``weekly:<KEY>:<local day>``, kind, lead)
keeps a report single across restarts and processes, and the relay remembers what it
settled so the database is asked once a day.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from aliasdesk.db.models import Ticket
from aliasdesk.domain.organisation import Department, RoutingConfig
from aliasdesk.domain.schedules import DailySchedule
from aliasdesk.domain.sla_clock import targets_for
from aliasdesk.notify.catalogue.weekly_report import FIRST_RESPONSE_BUCKETS, WEEKLY_REPORT
from aliasdesk.services.alerts import queue_from_aliasdesk
from aliasdesk.services.scheduled_mail import Rounds, due_departments
from aliasdesk.services.service_figures import department_figures

WEEK = timedelta(days=7)


@dataclass(frozen=True)
class ReportWeek:
    """The seven local days a report covers: ``[since, until)`` at the zone's midnights."""

    department: Department
    day: date
    zone: tzinfo

    @property
    def until(self) -> datetime:
        return datetime.combine(self.day, datetime.min.time(), tzinfo=self.zone)

    @property
    def since(self) -> datetime:
        return self.midnight(self.day - WEEK)

    def midnight(self, day: date) -> datetime:
        return datetime.combine(day, datetime.min.time(), tzinfo=self.zone)


class ReportRounds(Rounds[ReportWeek]):
    """The leads' weekly reports: (department, local day) pairs this process settled."""

    def schedule(self, config: RoutingConfig) -> DailySchedule | None:
        return config.weekly_report

    def due(self, config: RoutingConfig, now: datetime) -> list[ReportWeek]:
        due = due_departments(config, config.weekly_report, now)
        return [ReportWeek(d.department, d.day, d.zone) for d in due if d.department.leads]

    def key(self, item: ReportWeek) -> tuple[str, date]:
        return item.department.key, item.day

    def queue(
        self, session: Session, config: RoutingConfig, items: Sequence[ReportWeek], now: datetime
    ) -> int:
        return sum(queue_report(session, config, week, now) for week in items)


def queue_report(session: Session, config: RoutingConfig, week: ReportWeek, now: datetime) -> int:
    """One report to each lead of the week's department, in the caller's transaction;
    none for a department where nothing moved in either week (no ticket in, none
    resolved): a report of a backlog that only sat there, such as history imported with
    ``--no-mail``, would tell the leads nothing new every week."""
    facts = report_facts(session, week)
    moved = ("tickets_in", "resolved")
    if not any(facts[when][key] for when in ("this", "last") for key in moved):
        return 0
    cause, kind = f"weekly:{week.department.key}:{week.day.isoformat()}", WEEKLY_REPORT.name
    queued = (
        queue_from_aliasdesk(session, config, kind, lead, cause, facts, now)
        for lead in week.department.leads
    )
    return sum(queued)


def report_facts(session: Session, week: ReportWeek) -> dict[str, Any]:
    """What the report shows, as stored with its delivery."""
    key = week.department.key
    since, until = week.since, week.until
    days = [week.since.date() + timedelta(days=n) for n in range(7)]
    daily = []
    for day in days:
        figures = department_figures(
            session, key, week.midnight(day), week.midnight(day + timedelta(days=1))
        )
        daily.append((f"{day:%a}", figures["tickets_in"], figures["resolved"]))
    targets = targets_for(week.department, "normal")
    return {
        "department": key,
        "department_name": week.department.name,
        "since": since.date().isoformat(),
        "until": until.date().isoformat(),
        "zone": str(week.zone),
        "this": department_figures(session, key, since, until),
        "last": department_figures(session, key, since - WEEK, since),
        "days": daily,
        "first_response_counts": first_response_counts(session, key, since, until),
        "target_first_response_s": _seconds(targets.first_response),
        "target_resolution_s": _seconds(targets.resolution),
    }


def _seconds(value: timedelta | None) -> int | None:
    return int(value.total_seconds()) if value is not None else None


def first_response_counts(
    session: Session, department: str, since: datetime, until: datetime
) -> list[int]:
    """First responses of the period by the share of its ticket's own target they took
    (the buckets of ``FIRST_RESPONSE_BUCKETS``); tickets without a target are left out.
    Compared in integers (2 * taken <= target is "up to 50 %"), so both databases agree."""
    taken, target = Ticket.first_response_s, Ticket.target_first_response_s
    bucket = case(
        (taken * 2 <= target, 0),
        (taken <= target, 1),
        (taken * 2 <= target * 3, 2),
        (taken <= target * 2, 3),
        else_=4,
    ).label("bucket")
    rows = session.execute(
        select(bucket, func.count())
        .where(
            Ticket.department == department,
            Ticket.first_response_at >= since,
            Ticket.first_response_at < until,
            taken.is_not(None),
            target.is_not(None),
        )
        .group_by(bucket)
    )
    counts = [0] * len(FIRST_RESPONSE_BUCKETS)
    for index, count in rows:
        counts[int(index)] = int(count)
    return counts
