"""Service figures for a period: what ``aliasdesk report`` prints, and what a weekly report
mail or a dashboard shows for one department (:func:`department_figures`).

Everything is computed by the database from the figures each ticket recorded as they
happened (:mod:`aliasdesk.services.ticket_figures`): a handful of aggregate queries, one
per population, whatever the number of tickets. Three populations, each counted where its
moment falls in the period ``[since, until)``:

- tickets *in*: opened in the period;
- first responses: tickets first answered in the period (median and 90th percentile);
- *resolved*: tickets first resolved in the period, which also carry resolution times,
  SLA attainment, the reopen rate and satisfaction.

The backlog is the number of tickets open at the end of the period: opened before
``until`` and not resolved (or closed) before it. Percentiles are nearest-rank (the
smallest value with at least p % of the values at or below it), so that SQLite and
PostgreSQL give the same seconds. Weeks (ISO, from Monday)
and months are counted on the wall clock of the period's time zone (``figure_groups``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, func, literal, or_, select, union_all
from sqlalchemy.orm import Session

from aliasdesk.db.models import Ticket
from aliasdesk.services.figure_groups import GROUPINGS, Grouping, bucket_labels, group_key

__all__ = ["GROUPINGS", "Figures", "Period", "department_figures", "service_figures"]

RATINGS = (1, 2, 3, 4, 5)


@dataclass(frozen=True)
class Period:
    """What to count: ``[since, until)``, optionally one department or one owner."""

    since: datetime
    until: datetime
    department: str | None = None
    owner: str | None = None

    def where(self, moment: Any) -> ColumnElement[bool]:
        """``moment`` in the period, and the ticket within the department/owner asked for."""
        return and_(moment >= self.since, moment < self.until, *self.scope())

    @property
    def offset(self) -> timedelta:
        """The wall clock's offset from UTC at the start (weeks and months are counted on it)."""
        return self.since.utcoffset() or timedelta()

    def scope(self) -> list[ColumnElement[bool]]:
        found: list[ColumnElement[bool]] = []
        if self.department:
            found.append(Ticket.department == self.department.upper())
        if self.owner:
            found.append(Ticket.owner == self.owner.strip().lower())
        return found


def _no_percentiles() -> dict[str, int | None]:
    return {"median_s": None, "p90_s": None}


def _no_rating() -> dict[str, Any]:
    return {
        "average": None,
        "count": 0,
        "response_rate": 0.0,
        "distribution": {str(n): 0 for n in RATINGS},
    }


@dataclass
class Figures:
    """One group's figures, shaped as CONTRACT §4's ``report --json`` group."""

    key: str
    tickets_in: int = 0
    resolved: int = 0
    backlog: int = 0
    first_response: dict[str, int | None] = field(default_factory=_no_percentiles)
    resolution: dict[str, int | None] = field(default_factory=_no_percentiles)
    sla_attainment: float | None = None
    reopen_rate: float = 0.0
    rating: dict[str, Any] = field(default_factory=_no_rating)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def service_figures(
    session: Session, period: Period, by: str = "department", keys: tuple[str, ...] = ()
) -> dict[str, Any]:
    """The whole report: ``{"since", "until", "groups": [...]}`` (CONTRACT §4).

    ``keys`` are groups to show even when nothing happened in them (the departments of
    the routing file); week and month groups cover the whole period anyway.
    """
    grouping = GROUPINGS[by]
    groups: dict[str, Figures] = {key: Figures(key) for key in keys}
    if grouping.by_time:
        labels = bucket_labels(grouping, period.since, period.until)
        groups.update({label: Figures(label) for label in labels})

    def group(raw: Any) -> Figures:
        key = grouping.label(raw)
        return groups.setdefault(key, Figures(key))

    dialect = session.get_bind().dialect.name
    for key, count in session.execute(_counted(grouping, dialect, Ticket.created_at, period)):
        group(key).tickets_in = int(count)
    for row in session.execute(_resolved(grouping, dialect, period)):
        _fill_resolved(group(row.key), row)
    for name, key, median, p90 in session.execute(_percentiles(grouping, dialect, period)):
        setattr(group(key), name, {"median_s": _int(median), "p90_s": _int(p90)})
    _fill_backlog(session, grouping, dialect, period, groups)
    ordered = sorted(groups.values(), key=lambda figures: figures.key)
    return {
        "since": period.since.isoformat(),
        "until": period.until.isoformat(),
        "groups": [figures.as_json() for figures in ordered],
    }


def department_figures(
    session: Session, department: str, since: datetime, until: datetime
) -> dict[str, Any]:
    """One department's figures for ``[since, until)``: the group ``aliasdesk report
    --department KEY`` prints for the same period (for report mails and dashboards)."""
    period = Period(since, until, department=department)
    report = service_figures(session, period, "department", (department.upper(),))
    return next(g for g in report["groups"] if g["key"] == department.upper())


def _int(value: Any) -> int | None:
    return int(value) if value is not None else None


def _counted(grouping: Grouping, dialect: str, moment: Any, period: Period) -> Select[Any]:
    key = group_key(grouping, dialect, moment, period.offset).label("key")
    return select(key, func.count()).where(period.where(moment)).group_by(key)


def _met() -> tuple[ColumnElement[int], ColumnElement[int]]:
    """(judged, met): a target is judged once its figure is recorded; a ticket meets its
    SLA when every judged target was met."""
    first = and_(Ticket.target_first_response_s.is_not(None), Ticket.first_response_s.is_not(None))
    whole = and_(Ticket.target_resolution_s.is_not(None), Ticket.resolution_s.is_not(None))
    missed = or_(
        and_(first, Ticket.first_response_s > Ticket.target_first_response_s),
        and_(whole, Ticket.resolution_s > Ticket.target_resolution_s),
    )
    judged = or_(first, whole)
    return _flag(judged), _flag(and_(judged, ~missed))


def _flag(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.sum(case((condition, 1), else_=0))


def _resolved(grouping: Grouping, dialect: str, period: Period) -> Select[Any]:
    key = group_key(grouping, dialect, Ticket.resolved_at, period.offset).label("key")
    judged, met = _met()
    columns = [
        key,
        func.count().label("resolved"),
        _flag(Ticket.reopen_count > 0).label("reopened"),
        func.count(Ticket.rating).label("rated"),
        func.avg(Ticket.rating).label("average"),
        judged.label("judged"),
        met.label("met"),
        *(_flag(Ticket.rating == n).label(f"rating_{n}") for n in RATINGS),
    ]
    return select(*columns).where(period.where(Ticket.resolved_at)).group_by(key)


def _fill_resolved(figures: Figures, row: Any) -> None:
    resolved = int(row.resolved)
    figures.resolved = resolved
    figures.reopen_rate = int(row.reopened or 0) / resolved if resolved else 0.0
    judged = int(row.judged or 0)
    figures.sla_attainment = int(row.met or 0) / judged if judged else None
    rated = int(row.rated or 0)
    figures.rating = {
        "average": round(float(row.average), 2) if row.average is not None else None,
        "count": rated,
        "response_rate": rated / resolved if resolved else 0.0,
        "distribution": {str(n): int(getattr(row, f"rating_{n}") or 0) for n in RATINGS},
    }


TIMES = (
    ("first_response", Ticket.first_response_s, Ticket.first_response_at),
    ("resolution", Ticket.resolution_s, Ticket.resolved_at),
)
"""The times whose median and 90th percentile are reported: (name, value, counted at)."""


def _percentiles(grouping: Grouping, dialect: str, period: Period) -> Any:
    """(name, group, median, 90th percentile) of each of ``TIMES``, by nearest rank: the
    smallest value with at least p of all values at or below it.

    PostgreSQL's ``percentile_disc`` is exactly that. SQLite has no ordered-set
    aggregates: there each value gets its ``cume_dist`` (the share of values at or below
    it) in one window pass over both times, and the percentile is the smallest value
    whose share reaches p.
    """
    parts = []
    for name, value, moment in TIMES:
        key = group_key(grouping, dialect, moment, period.offset).label("key")
        where = (period.where(moment), value.is_not(None))
        if dialect == "postgresql":
            median = func.percentile_disc(0.5).within_group(value)
            p90 = func.percentile_disc(0.9).within_group(value)
            parts.append(select(literal(name), key, median, p90).where(*where).group_by(key))
        else:
            parts.append(
                select(literal(name).label("name"), key, value.label("value")).where(*where)
            )
    if dialect == "postgresql":
        return union_all(*parts)
    values = union_all(*parts).subquery()
    share = func.cume_dist().over(
        partition_by=(values.c.name, values.c.key), order_by=values.c.value
    )
    shared = select(values.c.name, values.c.key, values.c.value, share.label("share")).subquery()
    at = {p: func.min(case((shared.c.share >= p, shared.c.value))) for p in (0.5, 0.9)}
    return select(shared.c.name, shared.c.key, at[0.5], at[0.9]).group_by(
        shared.c.name, shared.c.key
    )


def _open_at(moment: datetime, period: Period) -> ColumnElement[bool]:
    """Opened before ``moment`` and not resolved (or closed) before it."""
    return and_(
        Ticket.created_at < moment,
        or_(Ticket.resolved_at.is_(None), Ticket.resolved_at >= moment),
        *period.scope(),
    )


def _fill_backlog(
    session: Session,
    grouping: Grouping,
    dialect: str,
    period: Period,
    groups: dict[str, Figures],
) -> None:
    """Open tickets at the end of each group's period.

    For departments and owners that is one count per group at ``until``. For weeks and
    months it is the backlog at ``since`` plus, bucket by bucket, what came in less what
    was resolved, so one count and the figures above suffice.
    """
    if not grouping.by_time:
        key = group_key(grouping, dialect, Ticket.created_at, period.offset).label("key")
        statement = select(key, func.count()).where(_open_at(period.until, period)).group_by(key)
        for key_value, count in session.execute(statement):
            key_text = grouping.label(key_value)
            groups.setdefault(key_text, Figures(key_text)).backlog = int(count)
        return
    running = int(session.scalar(select(func.count()).where(_open_at(period.since, period))) or 0)
    for key_value in sorted(groups):
        figures = groups[key_value]
        running += figures.tickets_in - figures.resolved
        figures.backlog = running
