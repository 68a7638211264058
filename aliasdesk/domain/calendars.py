"""Business time: when a department is open, and how much open time lies between moments.

Service levels are promises about working time: "4 hours" on a Friday at 16:00 for an
office open 08:00-17:00 means Monday at 11:00, not Friday at 20:00. A calendar is a time
zone, the opening hours of each weekday as wall-clock times, and the dates it is closed
(holidays). Everything else is derived from the open intervals it gives in UTC.

Wall-clock times become instants through :mod:`zoneinfo`. Two days a year the wall clock
jumps: a time inside the spring gap ("02:30" in Berlin on the last Sunday of March) never
happens and is taken as the instant of the jump; a time the autumn fold repeats is taken
at its first occurrence. That keeps the mapping monotonic, so the open intervals never
overlap and :func:`add_business` and :func:`business_between` stay exact inverses.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY = 24 * 60
"""Minutes in a wall-clock day; an opening may end at 24:00 (midnight of the next day)."""
SEARCH_DAYS = 366 * 20
"""How far ahead an opening is looked for before a calendar is taken as never open."""


class ClosedForeverError(ValueError):
    """No opening within ``SEARCH_DAYS``: the holidays cover every open day."""


Opening = tuple[int, int]
"""One opening of a day, as minutes after local midnight: (start, end), start < end."""


@dataclass(frozen=True)
class BusinessCalendar:
    """A time zone, the openings of each weekday (Monday first) and the closed dates."""

    name: str
    timezone: str = "UTC"
    week: tuple[tuple[Opening, ...], ...] = (((0, DAY),),) * 7
    holidays: frozenset[date] = frozenset()
    zone: ZoneInfo = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.week) != 7:
            raise ValueError("a week has seven days")
        if not any(self.week):
            raise ValueError("a calendar must be open at some time of the week")
        object.__setattr__(self, "zone", ZoneInfo(self.timezone))

    @property
    def round_the_clock(self) -> bool:
        """Open all the time: business time is wall-clock time."""
        return not self.holidays and all(day == ((0, DAY),) for day in self.week)

    def local(self, moment: datetime) -> datetime:
        """The moment on this calendar's wall clock (for mail that says when)."""
        return _aware(moment).astimezone(self.zone)

    def openings_on(self, day: date) -> tuple[Opening, ...]:
        return () if day in self.holidays else self.week[day.weekday()]

    def instant(self, day: date, minutes: int) -> datetime:
        """The UTC instant of a wall-clock time on ``day`` (see the module on DST)."""
        naive = datetime.combine(day, time()) + timedelta(minutes=minutes)
        first = naive.replace(tzinfo=self.zone).astimezone(UTC)
        if first.astimezone(self.zone).replace(tzinfo=None) == naive:
            return first  # exists; in the autumn fold this is its first occurrence
        return _jump_before(self.zone, naive.replace(tzinfo=self.zone, fold=1), first)

    def intervals(
        self, start: datetime, until: datetime | None = None
    ) -> Iterator[tuple[datetime, datetime]]:
        """Open intervals (UTC, ascending, disjoint) from ``start``'s local day onwards.

        The first interval may begin before ``start`` and the last end after ``until``;
        callers clip them. Without ``until``, gives up after ``SEARCH_DAYS`` days without
        an opening (:class:`ClosedForeverError`).
        """
        day = self.local(start).date() - timedelta(days=1)  # a late opening may reach in
        last = self.local(until).date() if until is not None else None
        idle = 0
        while idle < SEARCH_DAYS:
            if last is not None and day > last:
                return
            openings = self.openings_on(day)
            idle = 0 if openings else idle + 1
            for begin, end in openings:
                opened, closed = self.instant(day, begin), self.instant(day, end)
                if closed > opened:
                    yield opened, closed
            day += timedelta(days=1)
        raise ClosedForeverError(f"calendar {self.name} has no opening after {start:%Y-%m-%d}")


ROUND_THE_CLOCK = BusinessCalendar("round the clock")
"""The calendar of a department that names none: every second counts."""


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _jump_before(zone: ZoneInfo, late: datetime, early: datetime) -> datetime:
    """The instant the clock jumped over a wall-clock time that never happened.

    ``late`` read with the offset after the jump lies before it, ``early`` (read with the
    offset before) after it; halving the span finds the change of offset to the second.
    """
    low = late.astimezone(UTC)
    high = early
    before = low.astimezone(zone).utcoffset()
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        if middle.astimezone(zone).utcoffset() == before:
            low = middle
        else:
            high = middle
    return high.replace(microsecond=0) if high.microsecond else high


def business_between(calendar: BusinessCalendar, start: datetime, end: datetime) -> timedelta:
    """Open time between two moments; zero when ``end`` is not after ``start``."""
    start, end = _aware(start), _aware(end)
    if end <= start:
        return timedelta()
    if calendar.round_the_clock:
        return end - start
    total = timedelta()
    for opened, closed in calendar.intervals(start, end):
        total += max(min(closed, end) - max(opened, start), timedelta())
    return total


def add_business(calendar: BusinessCalendar, start: datetime, amount: timedelta) -> datetime:
    """The first moment by which ``amount`` of open time has passed since ``start``.

    A zero amount gives ``start`` itself, even outside opening hours; a ticket opened on
    Saturday with a 4-hour target is due four open hours into Monday.
    """
    start = _aware(start)
    if amount <= timedelta():
        return start
    if calendar.round_the_clock:
        return start + amount
    left = amount
    for opened, closed in calendar.intervals(start):
        if closed <= start:
            continue
        begin = max(opened, start)
        if closed - begin >= left:
            return begin + left
        left -= closed - begin
    raise AssertionError("intervals() ends only by raising")  # pragma: no cover


def shifted_due(
    calendar: BusinessCalendar, due: datetime, paused_at: datetime, resumed_at: datetime
) -> datetime:
    """Where a due moment goes after the clock stood still from ``paused_at`` to ``resumed_at``.

    The open time that was left at the pause is left again at the resumption: nothing is
    lost and nothing is gained by waiting on the requester.
    """
    left = business_between(calendar, paused_at, due)
    return add_business(calendar, max(resumed_at, paused_at), left)
