"""Closed days from an iCalendar file (RFC 5545), such as a public-holiday feed.

icalendar and dateutil's rules are imported only to read such a file: every process reads
the routing file, few name one, and the two are about 100 modules and 3 MB that a
process would otherwise hold for good.

Every event closes the whole of each local date it touches: holiday feeds are all-day
events, and a business calendar is kept by the day. A yearly (or any) ``RRULE`` is
expanded ``YEARS_AHEAD`` years from the event's start, without its ``EXDATE`` dates, so one
"Christmas Day, every year" entry is enough.
"""

from __future__ import annotations

import stat
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from icalendar import Event

YEARS_AHEAD = 30
LONGEST_EVENT = timedelta(days=366)
"""An event longer than this is a mistake in the feed, not a year-long holiday."""


MAX_ICAL_BYTES = 16 * 2**20
"""A holiday feed past this is refused: a country's holidays for decades fit in a few KB."""


class HolidayFileError(ValueError):
    """The file cannot be read or is no iCalendar file; the message says which."""


def holidays_from_ical(path: Path, zone: ZoneInfo) -> frozenset[date]:
    """Every date an event in the file falls on, in ``zone`` for events with a time."""
    from icalendar import Calendar, Event

    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):  # a fifo would hang, a device never end
            raise HolidayFileError(f"{path}: is not a regular file")
        if info.st_size > MAX_ICAL_BYTES:
            raise HolidayFileError(f"{path}: is larger than {MAX_ICAL_BYTES // 2**20} MB")
        data = path.read_bytes()
    except OSError as error:
        raise HolidayFileError(f"{path}: cannot be read: {error.strerror or error}") from error
    try:
        calendar = Calendar.from_ical(data)
    except (ValueError, IndexError, KeyError) as error:
        # The parser's words may quote the file (a wrong path: /etc/passwd): not repeated.
        raise HolidayFileError(f"{path}: not an iCalendar file") from error
    found: set[date] = set()
    try:
        for event in calendar.walk("VEVENT"):
            assert isinstance(event, Event)
            found.update(_event_dates(event, zone))
    except (ValueError, TypeError, KeyError, AttributeError) as error:
        raise HolidayFileError(f"{path}: an event cannot be read: {error}") from error
    return frozenset(found)


def _event_dates(event: Event, zone: ZoneInfo) -> set[date]:
    start = event.start
    length = max(event.end - start, timedelta())
    if length > LONGEST_EVENT:
        raise ValueError(f"event {event.get('SUMMARY', '')!s} lasts {length.days} days")
    dates: set[date] = set()
    for begin in _occurrences(event, start):
        dates.update(_days(begin, begin + length, zone))
    return dates


def _occurrences(event: Event, start: date | datetime) -> list[date | datetime]:
    """The event's start and, with an RRULE, every repetition for ``YEARS_AHEAD`` years."""
    from dateutil.rrule import rrulestr

    if not event.rrules:
        return [start]
    anchor = start if isinstance(start, datetime) else datetime.combine(start, time())
    horizon = anchor.replace(year=anchor.year + YEARS_AHEAD)
    excluded = {_day_of(moment) for moment in event.exdates}
    found: list[date | datetime] = []
    for rule in event.rrules:
        expanded = rrulestr(rule.to_ical().decode(), dtstart=anchor)
        for moment in expanded.between(anchor, horizon, inc=True):
            if _day_of(moment) not in excluded:
                found.append(moment if isinstance(start, datetime) else moment.date())
    return found


def _day_of(moment: date | datetime) -> date:
    return moment.date() if isinstance(moment, datetime) else moment


def _days(begin: date | datetime, end: date | datetime, zone: ZoneInfo) -> set[date]:
    """The local dates from ``begin`` up to (not including) ``end``; at least one."""
    if isinstance(begin, datetime):
        first = _local(begin, zone)
        finish = _local(end, zone) if isinstance(end, datetime) else first
        last = finish - timedelta(microseconds=1) if finish > first else first
        first_day, last_day = first.date(), last.date()
    else:
        first_day = begin
        last_day = _day_of(end) - timedelta(days=1) if end > begin else begin
    count = (last_day - first_day).days + 1
    return {first_day + timedelta(days=n) for n in range(max(count, 1))}


def _local(moment: datetime, zone: ZoneInfo) -> datetime:
    """A floating time (no zone) is the calendar's own wall clock (RFC 5545 §3.3.5)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=zone)
    return moment.astimezone(zone)
