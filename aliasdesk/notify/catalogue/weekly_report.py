"""A lead's weekly report: their department's service figures for the past seven days
beside the week before and the targets, with three charts shown inline.

The figures are the ones ``aliasdesk report --department KEY`` prints for the same
period: the service that queues the mail stores them as that report's groups, and this
kind only lays them out. Every figure is a row of the text part too (and the charts'
numbers are listed there), so a client that shows no images, or no HTML, misses nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from babel.dates import format_date
from babel.numbers import format_decimal

from aliasdesk.notify.catalogue.kind import DeliverySource, InlineImage, NotificationKind
from aliasdesk.notify.kinds import MailContext
from aliasdesk.notify.language import _, current_locale, describe_duration, format_day

FIRST_RESPONSE_BUCKETS = ("up to 50 %", "50-100 %", "100-150 %", "150-200 %", "over 200 %")
"""A first response's time as a share of its ticket's target; from the third on, missed.
The charts' own labels; the mail words them in its language (``bucket_label``)."""


def bucket_label(index: int) -> str:
    """A bucket of ``FIRST_RESPONSE_BUCKETS`` in the language of the mail."""
    if index == 0:
        return _("up to 50 %")
    if index == len(FIRST_RESPONSE_BUCKETS) - 1:
        return _("over 200 %")
    return FIRST_RESPONSE_BUCKETS[index]


MISSED_FROM = 2
CHARTS = {
    "daily": "tickets-per-day@report.aliasdesk",
    "first_response": "first-response@report.aliasdesk",
    "satisfaction": "satisfaction@report.aliasdesk",
}
"""The charts by name, with the Content-ID each travels under in the mail."""
CHART_FILES = {
    "daily": "tickets-per-day.png",
    "first_response": "first-response.png",
    "satisfaction": "satisfaction.png",
}
"""The file name of each chart: the mail's attachment, the dashboard's picture."""


@dataclass(frozen=True, slots=True)
class FigureRow:
    """One line of the figures table: this week, the week before, the target."""

    label: str
    this_week: str
    last_week: str
    target: str = ""


def _seconds(value: Any) -> str:
    if value is None:
        return "-"
    return describe_duration(timedelta(seconds=int(value)))


def _share(value: Any) -> str:
    return "-" if value is None else f"{round(float(value) * 100)} %"


def _number(value: Any) -> str:
    """A count or an average as the reader's language writes it (4.2, 4,2)."""
    if value is None:
        return "-"
    pattern = "0.0" if isinstance(value, float) else None  # an average keeps its tenth
    return format_decimal(value, format=pattern, locale=current_locale().language)


@dataclass(frozen=True, kw_only=True)
class WeeklyReportContext(MailContext):
    """``this``/``last`` are groups of ``aliasdesk report --json``; ``days`` are (day,
    in, resolved); ``first_response_counts`` follow ``FIRST_RESPONSE_BUCKETS``."""

    recipient: str
    recipient_name: str
    department_key: str
    department_name: str
    since: date
    until: date
    zone: str
    this: dict[str, Any]
    last: dict[str, Any]
    days: tuple[tuple[str, int, int], ...]
    first_response_counts: tuple[int, ...]
    target_first_response_s: int | None = None
    target_resolution_s: int | None = None
    charts: dict[str, str] | None = None

    @property
    def last_day(self) -> date:
        """The last day counted (``until`` is the day after it)."""
        return self.until - timedelta(days=1)

    @property
    def period_text(self) -> str:
        first, last = self.since, self.last_day
        return f"{format_day(first)} – {format_day(last)}"

    @property
    def cid(self) -> dict[str, str]:
        return self.charts or CHARTS

    @property
    def rows(self) -> tuple[FigureRow, ...]:
        """Every figure of the report, in the order the mail shows them."""
        this, last = self.this, self.last
        first = _seconds(self.target_first_response_s)
        whole = _seconds(self.target_resolution_s)
        rows = [
            FigureRow(_("Tickets in"), _number(this["tickets_in"]), _number(last["tickets_in"])),
            FigureRow(_("Resolved"), _number(this["resolved"]), _number(last["resolved"])),
            FigureRow(_("Backlog at the end"), _number(this["backlog"]), _number(last["backlog"])),
        ]
        for name, labels, target in (
            (
                "first_response",
                (_("First response, median"), _("First response, 90th percentile")),
                first,
            ),
            ("resolution", (_("Resolution, median"), _("Resolution, 90th percentile")), whole),
        ):
            for key, label in zip(("median_s", "p90_s"), labels, strict=True):
                now, before = this[name][key], last[name][key]
                rows.append(FigureRow(label, _seconds(now), _seconds(before), target))
        rows += [
            FigureRow(
                _("SLA attainment"), _share(this["sla_attainment"]), _share(last["sla_attainment"])
            ),
            FigureRow(_("Reopen rate"), _share(this["reopen_rate"]), _share(last["reopen_rate"])),
            FigureRow(
                _("Satisfaction, average"),
                _number(this["rating"]["average"]),
                _number(last["rating"]["average"]),
            ),
            FigureRow(
                _("Ratings given"),
                _number(this["rating"]["count"]),
                _number(last["rating"]["count"]),
            ),
            FigureRow(
                _("Rating response rate"),
                _share(this["rating"]["response_rate"]),
                _share(last["rating"]["response_rate"]),
            ),
        ]
        return tuple(rows)

    @property
    def ratings(self) -> tuple[tuple[int, int, int], ...]:
        """(rating, this week, last week) for 1 to 5."""
        now, before = self.this["rating"]["distribution"], self.last["rating"]["distribution"]
        return tuple((n, int(now.get(str(n), 0)), int(before.get(str(n), 0))) for n in range(1, 6))

    @property
    def day_rows(self) -> tuple[tuple[str, int, int], ...]:
        """``days`` with each day's name in the reader's language ("Mo.", "lun.")."""
        language = current_locale().language
        return tuple(
            (format_date(self.since + timedelta(days=n), "EEE", locale=language), came, done)
            for n, (_day, came, done) in enumerate(self.days)
        )

    @property
    def first_response_buckets(self) -> tuple[tuple[str, int], ...]:
        labels = [bucket_label(index) for index in range(len(FIRST_RESPONSE_BUCKETS))]
        return tuple(zip(labels, self.first_response_counts, strict=True))

    @property
    def chart_texts(self) -> dict[str, str]:
        """Each chart's figures in words, by chart name: what a reader who sees no
        picture (a screen reader, a client that blocks images) gets instead."""
        daily = "; ".join(f"{day} {came} / {done}" for day, came, done in self.day_rows)
        first = "; ".join(f"{label}: {count}" for label, count in self.first_response_buckets)
        happy = "; ".join(f"{n}: {now} / {was}" for n, now, was in self.ratings)
        return {
            "daily": f"{_('Tickets per day (in / resolved):')} {daily}",
            "first_response": _(
                "First responses against their target (share of the target they took):"
            )
            + f" {first}",
            "satisfaction": f"{_('Ratings (this week / week before):')} {happy}",
        }


def _build(source: DeliverySource) -> WeeklyReportContext:
    name = source.person_name(source.recipient, "")
    return report_context(source.facts, source.recipient, name)


def report_context(
    facts: Mapping[str, Any], recipient: str, recipient_name: str = ""
) -> WeeklyReportContext:
    """The report of ``facts`` (``report_facts`` of the weekly report service) as
    ``recipient`` reads it: in the mail, and on the dashboard they sign in to."""
    return WeeklyReportContext(
        recipient=recipient,
        recipient_name=recipient_name,
        department_key=str(facts["department"]),
        department_name=str(facts["department_name"]),
        since=date.fromisoformat(str(facts["since"])),
        until=date.fromisoformat(str(facts["until"])),
        zone=str(facts.get("zone") or "UTC"),
        this=dict(facts["this"]),
        last=dict(facts["last"]),
        days=tuple((str(d), int(i), int(r)) for d, i, r in facts["days"]),
        first_response_counts=tuple(int(n) for n in facts["first_response_counts"]),
        target_first_response_s=facts.get("target_first_response_s"),
        target_resolution_s=facts.get("target_resolution_s"),
    )


def draw_chart(report: WeeklyReportContext, name: str, narrow: bool = False) -> bytes:
    """The chart ``name`` (a key of ``CHARTS``) of ``report`` as a PNG, worded in the
    language in force; the one drawing of it, for the mail and for the dashboard (which
    asks for it ``narrow`` on a phone)."""
    # Imported here, not with the module: every process loads every kind at start, and
    # matplotlib adds about 55 MB and a third of a second to a process that never draws.
    from aliasdesk.notify import charts

    size = charts.NARROW if narrow else charts.WIDE
    if name == "daily":
        days = report.day_rows
        came, done = [c for _, c, _ in days], [d for _, _, d in days]
        return charts.tickets_per_day([day for day, _, _ in days], came, done, size)
    if name == "first_response":
        buckets = report.first_response_buckets
        labels, counts = [label for label, _ in buckets], [count for _, count in buckets]
        return charts.first_responses(labels, counts, MISSED_FROM, size)
    if name == "satisfaction":
        now, was = [n for _, n, _ in report.ratings], [w for _, _, w in report.ratings]
        return charts.satisfaction(now, was, size)
    raise KeyError(name)


def _images(source: DeliverySource) -> list[InlineImage]:
    """The three charts, drawn from the same facts the text part shows, worded in the
    language of the mail (called while it is in force)."""
    report = _build(source)
    return [(CHARTS[n], CHART_FILES[n], "image/png", draw_chart(report, n)) for n in CHARTS]


def _sample(department: str | None) -> WeeklyReportContext:
    this = {
        "key": "HR", "tickets_in": 12, "resolved": 10, "backlog": 5,
        "first_response": {"median_s": 5400, "p90_s": 16200},
        "resolution": {"median_s": 86400, "p90_s": 259200},
        "sla_attainment": 0.8, "reopen_rate": 0.1,
        "rating": {"average": 4.2, "count": 5, "response_rate": 0.5,
                   "distribution": {"1": 0, "2": 1, "3": 0, "4": 1, "5": 3}},
    }  # fmt: skip
    last = {
        **this, "tickets_in": 9, "resolved": 11, "backlog": 3, "sla_attainment": 0.9,
        "rating": {"average": 4.5, "count": 4, "response_rate": 0.36,
                   "distribution": {"1": 0, "2": 0, "3": 1, "4": 0, "5": 3}},
    }  # fmt: skip
    days = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
    return WeeklyReportContext(
        recipient="hanna@example.com",
        recipient_name="Hanna",
        department_key=department or "HR",
        department_name="Human Resources",
        since=date(2025, 2, 24),
        until=date(2025, 3, 3),
        zone="Europe/Berlin",
        this=this,
        last=last,
        days=tuple(zip(days, (3, 4, 1, 2, 2, 0, 0), (1, 2, 3, 2, 2, 0, 0), strict=True)),
        first_response_counts=(4, 3, 1, 0, 1),
        target_first_response_s=4 * 3600,
        target_resolution_s=3 * 86400,
    )


WEEKLY_REPORT = NotificationKind(
    name="weekly_report",
    context_type=WeeklyReportContext,
    audience="staff",
    sample=_sample,
    build=_build,
    label="weekly report",
    inline_images=_images,
)
