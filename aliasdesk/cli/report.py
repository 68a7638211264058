"""``aliasdesk report``: service figures for a period, as a table, JSON or CSV.

Dates are whole days on the wall clock of the department's calendar (``--department``),
or of UTC; ``--until`` is the last day counted. Without dates the report covers the last
30 days up to today.
"""

from __future__ import annotations

import csv
import sys
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from aliasdesk.cli.output import print_json
from aliasdesk.db.session import Database
from aliasdesk.domain.durations import format_duration
from aliasdesk.domain.organisation import RoutingConfig
from aliasdesk.services.figure_rows import CSV_COLUMNS, csv_row
from aliasdesk.services.service_figures import Period, service_figures

DEFAULT_DAYS = 30


class ReportUsageError(ValueError):
    """A date or option the report cannot use; the message says which."""


def parse_day(text: str | None, option: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError as error:
        raise ReportUsageError(f"{option} {text!r}: expected a date as 2026-12-31") from error


def period_of(
    args: Any, config: RoutingConfig | None, today: datetime | None = None
) -> tuple[Period, tzinfo]:
    """The period the options ask for, with the time zone its days are counted in."""
    zone: tzinfo = UTC
    department = args.department.upper() if args.department else None
    if department and config is not None:
        if department not in config.departments:
            known = ", ".join(config.departments) or "none"
            raise ReportUsageError(f"--department {department}: no such department ({known})")
        zone = ZoneInfo(config.departments[department].calendar.timezone)
    now = (today or datetime.now(UTC)).astimezone(zone)
    last = parse_day(args.until, "--until") or now.date()
    first = parse_day(args.since, "--since") or last - timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        raise ReportUsageError(f"--since {first} is after --until {last}")
    since = datetime.combine(first, datetime.min.time(), tzinfo=zone)
    until = datetime.combine(last + timedelta(days=1), datetime.min.time(), tzinfo=zone)
    return Period(since, until, department=department, owner=args.owner), zone


def run_report(db: Database, config: RoutingConfig | None, args: Any) -> int:
    try:
        period, zone = period_of(args, config)
    except ReportUsageError as error:
        print(f"aliasdesk report: {error}", file=sys.stderr)
        return 2
    keys: tuple[str, ...] = ()
    if args.by == "department" and period.department:
        keys = (period.department,)
    elif args.by == "department" and not period.owner and config is not None:
        keys = tuple(config.departments)
    with db.reader() as session:
        report = service_figures(session, period, args.by, keys)
    if args.json:
        print_json(report)
    elif args.csv:
        _print_csv(report)
    else:
        _print_table(report, period, zone)
    return 0


def _print_csv(report: dict[str, Any]) -> None:
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for group in report["groups"]:
        writer.writerow(csv_row(group))


def _seconds(value: int | None) -> str:
    return format_duration(timedelta(seconds=value)) if value else ("0m" if value == 0 else "-")


def _share(value: float | None) -> str:
    return "-" if value is None else f"{round(value * 100)}%"


def _row(group: dict[str, Any]) -> list[str]:
    first, whole, rating = group["first_response"], group["resolution"], group["rating"]
    average = rating["average"]
    stars = "-" if average is None else f"{average:.1f} ({rating['count']} of {group['resolved']})"
    return [
        str(group["key"]),
        str(group["tickets_in"]),
        str(group["resolved"]),
        str(group["backlog"]),
        f"{_seconds(first['median_s'])} / {_seconds(first['p90_s'])}",
        f"{_seconds(whole['median_s'])} / {_seconds(whole['p90_s'])}",
        _share(group["sla_attainment"]),
        _share(group["reopen_rate"]),
        stars,
    ]


def _print_table(report: dict[str, Any], period: Period, zone: tzinfo) -> None:
    last = (period.until - timedelta(days=1)).date()
    scope = " ".join(filter(None, [period.department, period.owner])) or "all departments"
    print(f"{scope}: {period.since.date()} to {last} ({zone}), business time")
    head = ["", "in", "resolved", "backlog", "first response", "resolution"]
    head += ["SLA met", "reopened", "rating"]
    rows = [head, *(_row(group) for group in report["groups"])]
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    for row in rows:
        cells = [row[0].ljust(widths[0])]
        cells += [cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)]
        print("  ".join(cells).rstrip())
    print("first response and resolution: median / 90th percentile")
