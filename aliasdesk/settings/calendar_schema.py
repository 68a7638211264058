"""The ``calendars:`` section and the ``sla:`` of a department: business time and targets.

A calendar is written as an admin would say it::

    office:
      timezone: Europe/Berlin
      hours: {mon-fri: "08:00-12:00, 13:00-17:00", sat: "09:00-12:00"}
      holidays: [2026-12-24, 2026-12-25]
      ical: holidays.ics          # relative to the routing file; optional

and a department's ``sla`` gives targets for all priorities, a priority's own, and the
statuses that stop the clock::

    sla: {first_response: 8h, resolution: 5d, urgent: {first_response: 1h}, pause_on: [pending]}
"""

from __future__ import annotations

import contextlib
import re
from datetime import date, timedelta
from itertools import pairwise
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aliasdesk.domain.calendars import DAY, WEEKDAYS, BusinessCalendar, Opening
from aliasdesk.domain.durations import format_duration, parse_duration
from aliasdesk.domain.organisation import PAUSING_STATUSES, PRIORITIES
from aliasdesk.settings.ical_holidays import HolidayFileError, holidays_from_ical
from aliasdesk.settings.schema_shapes import Located, ShapeChecks, value_kind

_CALENDAR = ("timezone", "hours", "holidays", "ical")
_TARGETS = ("first_response", "resolution")
_SLA = (*_TARGETS, "pause_on", *PRIORITIES)
_OPENING = re.compile(r"(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})")
_DAYS_HELP = "mon, tue, wed, thu, fri, sat, sun, a range such as mon-fri, or a list: mon,wed"
_HOURS_HELP = 'opening hours as "08:00-17:00", or several: "08:00-12:00, 13:00-17:00"'

Targets = tuple[timedelta | None, timedelta | None]
PriorityTargets = tuple[tuple[str, timedelta | None, timedelta | None], ...]


class CalendarChecks(ShapeChecks):
    """Checks and builds the calendars, then the SLA of each department that names one."""

    calendars: dict[str, BusinessCalendar]
    calendar_names: set[str]
    """Every calendar the file names, usable or not: a broken one is reported once, where
    it is written, not again as unknown by each department using it."""

    def calendar_section(self, at: Located) -> dict[str, BusinessCalendar]:
        self.calendar_names = (
            {str(name) for name in at.value} if isinstance(at.value, dict) else set()
        )
        if not isinstance(at.value, dict):
            self.error(
                at, f"expected a mapping of calendars (office: …), got {value_kind(at.value)}"
            )
            return {}
        built: dict[str, BusinessCalendar] = {}
        for name in at.value:
            calendar = self.calendar(str(name), at[name])
            if calendar is not None:
                built[str(name)] = calendar
        return built

    def calendar(self, name: str, at: Located) -> BusinessCalendar | None:
        if not self.mapping(at, _CALENDAR, required=("timezone", "hours")):
            return None
        zone = self.given(at, "timezone", self.timezone, None, True)
        week = self.given(at, "hours", self.week, None, True)
        holidays = set(self.given(at, "holidays", self.holidays, set()))
        if zone is not None and at.has("ical"):
            holidays.update(self.ical(at["ical"], zone))
        if zone is None or week is None:
            return None
        if not any(week):
            self.error(at["hours"], "the calendar is never open; give at least one day's hours")
            return None
        return BusinessCalendar(name, zone.key, week, frozenset(holidays))

    def timezone(self, at: Located) -> ZoneInfo | None:
        text = self.text(at)
        if text is None:
            return None
        try:
            return ZoneInfo(text)
        except (ZoneInfoNotFoundError, ValueError):
            self.error(at, f'"{text}" is no time zone; use an IANA name such as Europe/Berlin')
            return None

    def week(self, at: Located) -> tuple[tuple[Opening, ...], ...] | None:
        if not isinstance(at.value, dict) or not at.value:
            example = '{mon-fri: "08:00-17:00"}'
            self.error(at, f"expected days and hours, e.g. {example}, got {value_kind(at.value)}")
            return None
        days: list[tuple[Opening, ...] | None] = [None] * 7
        for key in at.value:
            numbers = self.weekdays(at[key], str(key))
            openings = self.openings(at[key])
            for number in numbers:
                if days[number] is not None:
                    self.error(at[key], f"{WEEKDAYS[number]} is given twice")
                days[number] = openings
        return tuple(day or () for day in days)

    def weekdays(self, at: Located, key: str) -> list[int]:
        numbers: list[int] = []
        for part in key.lower().replace(" ", "").split(","):
            first, _, last = part.partition("-")
            if first not in WEEKDAYS or (last and last not in WEEKDAYS):
                self.error(at, f'"{key}" names no days; use {_DAYS_HELP}')
                return []
            begin, end = WEEKDAYS.index(first), WEEKDAYS.index(last or first)
            if end < begin:
                self.error(at, f'"{key}" runs backwards; write the days in week order (mon-fri)')
                return []
            numbers.extend(range(begin, end + 1))
        return numbers

    def openings(self, at: Located) -> tuple[Opening, ...]:
        text = at.value if isinstance(at.value, str) else None
        if text is None:
            self.error(at, f"expected {_HOURS_HELP}, got {value_kind(at.value)}")
            return ()
        found: list[Opening] = []
        for part in (piece.strip() for piece in text.split(",")):
            opening = self.opening(at, part)
            if opening is None:
                return ()
            found.append(opening)
        found.sort()
        for (_, end), (start, _) in pairwise(found):
            if start < end:
                self.error(at, f'the openings in "{text}" overlap')
                return ()
        return tuple(found)

    def opening(self, at: Located, part: str) -> Opening | None:
        match = _OPENING.fullmatch(part)
        if match is None:
            self.error(at, f'"{part}" is not {_HOURS_HELP}')
            return None
        h1, m1, h2, m2 = (int(group) for group in match.groups())
        start, end = h1 * 60 + m1, h2 * 60 + m2
        if m1 > 59 or m2 > 59 or start >= DAY or end > DAY:
            self.error(at, f'"{part}" is no time of day (00:00 to 24:00)')
            return None
        if end <= start:
            self.error(at, f'"{part}" ends before it starts; an opening stays within one day')
            return None
        return start, end

    def holidays(self, at: Located) -> list[date]:
        found: list[date] = []
        for item in self.items(at, "2026-12-25"):
            value = item.value
            if isinstance(value, str):
                with contextlib.suppress(ValueError):  # reported below as not a date
                    value = date.fromisoformat(value.strip())
            if isinstance(value, date):
                found.append(
                    value if type(value) is date else date(value.year, value.month, value.day)
                )
            else:
                self.error(item, f"expected a date as 2026-12-25, got {value_kind(item.value)}")
        return found

    def ical(self, at: Located, zone: ZoneInfo) -> frozenset[date]:
        text = self.text(at)
        if text is None:
            return frozenset()
        path = Path(text).expanduser()
        if not path.is_absolute():
            path = Path(self.source).parent / path
        try:
            return holidays_from_ical(path, zone)
        except HolidayFileError as error:
            self.error(at, str(error))
            return frozenset()

    # -- a department's targets -------------------------------------------------------

    def calendar_ref(self, at: Located) -> BusinessCalendar | None:
        if isinstance(at.value, str) and at.value in self.calendar_names:
            return self.calendars.get(at.value)
        if not isinstance(at.value, str) or at.value not in self.calendars:
            known = ", ".join(sorted(self.calendars)) or "none; add them under calendars:"
            self.error(at, f"unknown calendar {value_kind(at.value)}; known: {known}")
            return None
        return self.calendars[at.value]

    def sla(self, at: Located) -> tuple[Targets, PriorityTargets, tuple[str, ...]]:
        if not self.mapping(at, _SLA):
            return (None, None), (), ("pending",)
        default = self.targets(at)
        priorities: list[tuple[str, timedelta | None, timedelta | None]] = []
        for priority in (name for name in PRIORITIES if at.has(name)):
            if self.mapping(at[priority], _TARGETS):
                first, resolution = self.targets(at[priority])
                priorities.append((priority, first, resolution))
        pause_on = self.given(at, "pause_on", self.pause_on, ("pending",), True)
        return default, tuple(priorities), pause_on

    def targets(self, at: Located) -> Targets:
        parsed: dict[str, timedelta] = {}
        for key in (key for key in _TARGETS if key in at.value):
            try:
                parsed[key] = parse_duration(at.value[key])
            except ValueError as error:
                self.error(at[key], str(error))
        first, resolution = parsed.get("first_response"), parsed.get("resolution")
        if first is not None and resolution is not None and resolution < first:
            shorter = f"{format_duration(resolution)} is shorter than first_response"
            self.error(at["resolution"], f"{shorter} {format_duration(first)}")
        return first, resolution

    def pause_on(self, at: Located) -> tuple[str, ...]:
        statuses: list[str] = []
        for item in self.items(at, "pending"):
            status = self.choice(item, PAUSING_STATUSES)
            if status is not None and status not in statuses:
                statuses.append(status)
        return tuple(statuses)
