"""Schedules of recurring mail: local times on some weekdays, in a department's zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from aliasdesk.domain.schedules import parse_schedule

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.mark.parametrize(
    ("text", "days", "at"),
    [
        ("07:00", {0, 1, 2, 3, 4, 5, 6}, time(7)),
        ("mon-fri 7:30", {0, 1, 2, 3, 4}, time(7, 30)),
        ("Mon,wed,FRI 08:05", {0, 2, 4}, time(8, 5)),
        ("fri-mon 23:59", {4, 5, 6, 0}, time(23, 59)),
        ("sun 00:00", {6}, time(0)),
    ],
)
def test_parse(text: str, days: set[int], at: time) -> None:
    schedule = parse_schedule(text)
    assert schedule is not None and (set(schedule.days), schedule.at) == (days, at)
    assert parse_schedule(schedule.text) == schedule


@pytest.mark.parametrize(
    "text", ["", "7", "24:00", "07:60", "mon-fri", "weekdays 07:00", "mon 07:00 extra"]
)
def test_bad_schedules_say_why(text: str) -> None:
    with pytest.raises(ValueError, match=r"time|weekday|expected"):
        parse_schedule(text)


def test_off_means_never() -> None:
    assert parse_schedule(" OFF ") is None


def test_due_day_is_today_once_its_local_time_has_come() -> None:
    schedule = parse_schedule("mon-fri 07:00")
    assert schedule is not None
    # Monday 2 March 2026, 05:59 UTC is 06:59 in Berlin (CET, UTC+1): not yet.
    assert schedule.due_day(datetime(2026, 3, 2, 5, 59, tzinfo=UTC), BERLIN) is None
    assert schedule.due_day(datetime(2026, 3, 2, 6, 0, tzinfo=UTC), BERLIN) == date(2026, 3, 2)
    # Sunday 23:30 UTC is already Monday 00:30 in Berlin, but before 07:00.
    assert schedule.due_day(datetime(2026, 3, 1, 23, 30, tzinfo=UTC), BERLIN) is None
    # Saturday: not a scheduled day at all.
    assert schedule.due_day(datetime(2026, 3, 7, 12, 0, tzinfo=UTC), BERLIN) is None
    # After the clocks go forward (29 March 2026), 07:00 in Berlin is 05:00 UTC.
    assert schedule.due_day(datetime(2026, 3, 30, 5, 0, tzinfo=UTC), BERLIN) == date(2026, 3, 30)
    assert schedule.moment(date(2026, 3, 30), BERLIN) == datetime(2026, 3, 30, 5, tzinfo=UTC)


def test_next_moment_is_the_first_run_after_now() -> None:
    """What a process waits for: the next scheduled moment, never the one just passed."""
    schedule = parse_schedule("mon-fri 07:00")
    assert schedule is not None
    # Monday 06:59 Berlin: today's run; at 07:00 itself it is due, so the next is Tuesday.
    monday = datetime(2026, 3, 2, 5, 59, tzinfo=UTC)
    assert schedule.next_moment(monday, BERLIN) == datetime(2026, 3, 2, 6, tzinfo=UTC)
    at_seven = datetime(2026, 3, 2, 6, tzinfo=UTC)
    assert schedule.next_moment(at_seven, BERLIN) == datetime(2026, 3, 3, 6, tzinfo=UTC)
    # Friday after the run: Monday next, across the clock change of 29 March.
    friday = datetime(2026, 3, 27, 9, tzinfo=UTC)
    assert schedule.next_moment(friday, BERLIN) == datetime(2026, 3, 30, 5, tzinfo=UTC)
