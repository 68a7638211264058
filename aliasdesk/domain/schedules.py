"""When a recurring mail is due: "mon-fri 07:00" in a department's own time zone.

People expect the morning digest at their morning, so a schedule is a local time on some
weekdays, turned into a moment only for a given day and zone. Written in the routing file
as ``[DAYS ]HH:MM``: days as ``mon-fri``, ``mon,wed,fri``, ``sat`` or left out for every
day; ``off`` for never.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_TIME = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")
SCHEDULE_HELP = 'a time like "07:00", optionally after days: "mon-fri 07:00", "mon 08:30"'


@dataclass(frozen=True)
class DailySchedule:
    """A local time on some weekdays (0 is Monday, as ``date.weekday()`` counts)."""

    days: frozenset[int]
    at: time

    def runs_on(self, day: date) -> bool:
        return day.weekday() in self.days

    def moment(self, day: date, zone: tzinfo) -> datetime:
        """The moment it is due on ``day``, local wall time in ``zone`` (a wall time a
        clock change skips is read the way ``zoneinfo`` reads it, just after the gap)."""
        return datetime.combine(day, self.at, tzinfo=zone)

    def due_day(self, now: datetime, zone: tzinfo) -> date | None:
        """The local day whose run is due at ``now``: today once its time has come on a
        scheduled day, else None. A day missed entirely (the service was down) is not
        caught up the next day: a new one replaces it."""
        today = now.astimezone(zone).date()
        if self.runs_on(today) and now >= self.moment(today, zone):
            return today
        return None

    def next_moment(self, now: datetime, zone: tzinfo) -> datetime | None:
        """The first moment after ``now`` at which a run falls due (None for a schedule
        of no days): a process that knows it need not look before then."""
        today = now.astimezone(zone).date()
        for ahead in range(8):
            day = today + timedelta(days=ahead)
            if self.runs_on(day) and self.moment(day, zone) > now:
                return self.moment(day, zone)
        return None

    @property
    def text(self) -> str:
        return f"{_days_text(self.days)} {self.at:%H:%M}".strip()


def parse_schedule(text: str) -> DailySchedule | None:
    """``"mon-fri 07:00"`` -> a schedule; ``"off"`` -> None; ValueError with the reason."""
    words = text.strip().lower().split()
    if words == ["off"]:
        return None
    if not 1 <= len(words) <= 2:
        raise ValueError(f"expected {SCHEDULE_HELP}, or off")
    matched = _TIME.fullmatch(words[-1])
    if matched is None:
        raise ValueError(f'"{words[-1]}" is not a time of day (HH:MM, e.g. 07:00)')
    at = time(int(matched.group(1)), int(matched.group(2)))
    days = _parse_days(words[0]) if len(words) == 2 else frozenset(range(7))
    return DailySchedule(days, at)


def _parse_days(text: str) -> frozenset[int]:
    days: set[int] = set()
    for part in text.split(","):
        first, _, last = part.partition("-")
        start, end = _weekday(first), _weekday(last or first)
        span = range(start, end + 1) if start <= end else [*range(start, 7), *range(end + 1)]
        days.update(span)
    return frozenset(days)


def _weekday(word: str) -> int:
    if word not in WEEKDAYS:
        raise ValueError(f'"{word}" is not a weekday (use {", ".join(WEEKDAYS)}, e.g. mon-fri)')
    return WEEKDAYS.index(word)


def _days_text(days: frozenset[int]) -> str:
    if len(days) == 7:
        return ""
    return ",".join(WEEKDAYS[day] for day in sorted(days))


DEFAULT_DIGEST = DailySchedule(frozenset(range(5)), time(7, 0))
"""Members' morning digest unless the routing file says otherwise: working days, 07:00."""
DEFAULT_WEEKLY_REPORT = DailySchedule(frozenset({0}), time(7, 0))
"""Leads' weekly report unless the routing file says otherwise: Mondays, 07:00."""
