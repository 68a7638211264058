"""How service figures are grouped: by department, owner, ISO week or month.

The group of a ticket is computed by the database (a column, or the Monday or month of a
moment), so grouping never needs the rows in Python. Weeks and months follow the wall
clock of the report's time zone, taken at its UTC offset at the start of the period
(SQLite knows no time zones): across a daylight saving change a figure within an hour of
midnight may land in the neighbouring day. SQLite has no ISO-week format before 3.46, so
weeks are grouped by their Monday and named ("2026-W49") per group.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, literal

from aliasdesk.db.models import Ticket

UNASSIGNED = "unassigned"
"""The owner group of tickets nobody owns (no address has no @)."""


@dataclass(frozen=True)
class Grouping:
    name: str
    by_time: bool
    label: Callable[[Any], str]


def _week_label(monday: Any) -> str:
    year, week, _ = date.fromisoformat(str(monday)[:10]).isocalendar()
    return f"{year}-W{week:02d}"


GROUPINGS = {
    "department": Grouping("department", False, str),
    "owner": Grouping("owner", False, str),
    "week": Grouping("week", True, _week_label),
    "month": Grouping("month", True, str),
}


def group_key(
    grouping: Grouping, dialect: str, moment: Any, offset: timedelta = timedelta()
) -> ColumnElement[Any]:
    """The SQL expression of a ticket's group; ``moment`` is the column the figure is
    counted at and ``offset`` the wall clock's from UTC (weeks and months only)."""
    if grouping.name == "department":
        return Ticket.department.expression
    if grouping.name == "owner":
        return func.coalesce(Ticket.owner, literal(UNASSIGNED))
    if dialect == "postgresql":
        local = func.timezone("UTC", moment) + literal(offset)
        if grouping.name == "month":
            return func.to_char(local, "YYYY-MM")
        return func.to_char(func.date_trunc("week", local), "YYYY-MM-DD")
    shift = f"{int(offset.total_seconds()) // 60:+d} minutes"
    if grouping.name == "month":
        return func.strftime("%Y-%m", moment, shift)
    return func.date(moment, shift, "weekday 0", "-6 days")  # the Monday of its week


def bucket_labels(grouping: Grouping, since: datetime, until: datetime) -> list[str]:
    """Every week or month the period touches (on the wall clock ``since`` is given in),
    in order, so quiet ones show as zero."""
    first = since.date()
    last = (until.astimezone(since.tzinfo) - timedelta(microseconds=1)).date()
    labels: list[str] = []
    day = first
    while day <= last:
        label = grouping.label(day.isoformat()[:7] if grouping.name == "month" else day)
        if not labels or labels[-1] != label:
            labels.append(label)
        day += timedelta(days=1)
    return labels
