"""Business time: worked examples across weekends, holidays and the daylight saving changes
of Berlin and New York, and properties that must hold for any moment and any amount."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aliasdesk.domain.calendars import (
    DAY,
    BusinessCalendar,
    add_business,
    business_between,
    shifted_due,
)

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
WORKDAY = ((8 * 60, 12 * 60), (13 * 60, 17 * 60))
OFFICE = BusinessCalendar(
    "office",
    "Europe/Berlin",
    (WORKDAY,) * 5 + ((), ()),
    frozenset({date(2026, 12, 24), date(2026, 12, 25), date(2027, 1, 1)}),
)
NEW_YORK_DESK = BusinessCalendar(
    "new york",
    "America/New_York",
    (((9 * 60, 17 * 60 + 30),),) * 5 + (((10 * 60, 14 * 60),), ()),
    frozenset({date(2026, 11, 26), date(2026, 7, 3)}),
)
NIGHT_SHIFT = BusinessCalendar(
    "night shift",  # opens across the hour the clocks change
    "Europe/Berlin",
    (((0, 3 * 60), (22 * 60, DAY)),) * 7,
)
ALL_DAYS_BERLIN = BusinessCalendar(
    "every day", "Europe/Berlin", (((0, DAY),),) * 7, frozenset({date(2026, 5, 1)})
)
CALENDARS = (OFFICE, NEW_YORK_DESK, NIGHT_SHIFT, ALL_DAYS_BERLIN)


def berlin(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=BERLIN)  # type: ignore[misc]


def new_york(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=NEW_YORK)  # type: ignore[misc]


# -- worked examples ---------------------------------------------------------------------


def test_friday_afternoon_plus_four_hours_is_monday_morning() -> None:
    # Fri 16:00-17:00 is one hour; Mon 08:00-11:00 the other three.
    due = add_business(OFFICE, berlin(2026, 12, 4, 16, 0), timedelta(hours=4))
    assert due == berlin(2026, 12, 7, 11, 0)
    assert due.astimezone(UTC) == datetime(2026, 12, 7, 10, 0, tzinfo=UTC)


def test_opened_on_saturday_counts_from_monday_and_skips_lunch() -> None:
    opened = berlin(2026, 12, 5, 10, 30)
    assert add_business(OFFICE, opened, timedelta(hours=4)) == berlin(2026, 12, 7, 12, 0)
    assert add_business(OFFICE, opened, timedelta(hours=5)) == berlin(2026, 12, 7, 14, 0)
    assert business_between(OFFICE, opened, berlin(2026, 12, 7, 8, 0)) == timedelta()


def test_holidays_and_the_weekend_between_them_are_closed() -> None:
    # Wed 23 Dec 16:00: one hour that day; Thu 24 and Fri 25 are holidays, then the weekend.
    due = add_business(OFFICE, berlin(2026, 12, 23, 16, 0), timedelta(hours=2))
    assert due == berlin(2026, 12, 28, 9, 0)
    week = business_between(OFFICE, berlin(2026, 12, 21), berlin(2026, 12, 28))
    assert week == timedelta(hours=3 * 8)


def test_a_day_round_the_clock_has_23_and_25_hours_when_berlin_changes_its_clocks() -> None:
    spring = business_between(ALL_DAYS_BERLIN, berlin(2026, 3, 29), berlin(2026, 3, 30))
    autumn = business_between(ALL_DAYS_BERLIN, berlin(2026, 10, 25), berlin(2026, 10, 26))
    assert (spring, autumn) == (timedelta(hours=23), timedelta(hours=25))
    assert business_between(ALL_DAYS_BERLIN, berlin(2026, 5, 1), berlin(2026, 5, 2)) == timedelta()


def test_office_hours_stay_on_the_wall_clock_across_new_yorks_changes() -> None:
    # Fri 6 Mar 17:00 EST + 1 h: 30 minutes that day, then Saturday opens at 10:00.
    assert add_business(NEW_YORK_DESK, new_york(2026, 3, 6, 17, 0), timedelta(hours=1)) == (
        new_york(2026, 3, 7, 10, 30)
    )
    # Sat 7 Mar 13:00 + 2 h: one hour Saturday, Sunday closed (clocks go forward), Monday
    # 9:00 EDT + 1 h = 10:00 EDT, which is 14:00 UTC (it was 15:00 UTC before the change).
    due = add_business(NEW_YORK_DESK, new_york(2026, 3, 7, 13, 0), timedelta(hours=2))
    assert due.astimezone(UTC) == datetime(2026, 3, 9, 14, 0, tzinfo=UTC)
    # The week after the autumn change: 8.5 h a weekday, 4 h on Saturday.
    week = business_between(NEW_YORK_DESK, new_york(2026, 11, 2), new_york(2026, 11, 9))
    assert week == timedelta(hours=5 * 8.5 + 4)


def test_an_opening_inside_the_spring_gap_never_happens_and_the_autumn_fold_twice() -> None:
    spring = business_between(NIGHT_SHIFT, berlin(2026, 3, 28, 12), berlin(2026, 3, 29, 12))
    autumn = business_between(NIGHT_SHIFT, berlin(2026, 10, 24, 12), berlin(2026, 10, 25, 12))
    # 22:00-24:00 the evening before, then 00:00-03:00: 2 + 2 in spring, 2 + 4 in autumn.
    assert (spring, autumn) == (timedelta(hours=4), timedelta(hours=6))


def test_a_pause_gives_back_exactly_the_business_time_that_was_left() -> None:
    due = berlin(2026, 12, 7, 11, 0)  # Monday
    paused, resumed = berlin(2026, 12, 4, 16, 30), berlin(2026, 12, 8, 9, 0)
    # 3.5 h were left at the pause (Fri 16:30-17:00, Mon 08:00-11:00): Tue 09:00 + 3.5 h.
    assert shifted_due(OFFICE, due, paused, resumed) == berlin(2026, 12, 8, 13, 30)


# -- properties ----------------------------------------------------------------------------

_CHANGES = [  # the daylight saving changes of 2026 in both zones, in UTC
    datetime(2026, 3, 8, 7, 0, tzinfo=UTC),
    datetime(2026, 3, 29, 1, 0, tzinfo=UTC),
    datetime(2026, 10, 25, 1, 0, tzinfo=UTC),
    datetime(2026, 11, 1, 6, 0, tzinfo=UTC),
]
moments = st.one_of(
    st.datetimes(datetime(2025, 12, 1), datetime(2027, 2, 1), timezones=st.just(UTC)),
    st.builds(
        lambda change, minutes: change + timedelta(minutes=minutes),
        st.sampled_from(_CHANGES),
        st.integers(-3 * DAY, 3 * DAY),
    ),
)
amounts = st.builds(
    lambda seconds, micros: timedelta(seconds=seconds, microseconds=micros),
    st.integers(0, 200 * 3600),
    st.integers(0, 999_999),
)
calendars = st.sampled_from(CALENDARS)


@settings(max_examples=300, deadline=None)
@given(calendars, moments, amounts)
def test_measuring_what_was_added_gives_it_back(
    calendar: BusinessCalendar, start: datetime, amount: timedelta
) -> None:
    due = add_business(calendar, start, amount)
    assert due >= start
    assert business_between(calendar, start, due) == amount


@settings(max_examples=300, deadline=None)
@given(calendars, moments, amounts, amounts)
def test_more_business_time_is_never_earlier(
    calendar: BusinessCalendar, start: datetime, one: timedelta, two: timedelta
) -> None:
    low, high = sorted((one, two))
    assert add_business(calendar, start, low) <= add_business(calendar, start, high)


@settings(max_examples=300, deadline=None)
@given(calendars, st.lists(moments, min_size=3, max_size=3))
def test_business_time_adds_up_and_never_exceeds_wall_time(
    calendar: BusinessCalendar, three: list[datetime]
) -> None:
    start, middle, end = sorted(three)
    whole = business_between(calendar, start, end)
    assert whole == business_between(calendar, start, middle) + business_between(
        calendar, middle, end
    )
    assert timedelta() <= whole <= end - start
    assert business_between(calendar, end, start) == timedelta()


@settings(max_examples=200, deadline=None)
@given(calendars, moments, moments, amounts)
def test_a_later_start_is_never_due_earlier(
    calendar: BusinessCalendar, one: datetime, two: datetime, amount: timedelta
) -> None:
    early, late = sorted((one, two))
    assert add_business(calendar, early, amount) <= add_business(calendar, late, amount)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([OFFICE, ALL_DAYS_BERLIN, NEW_YORK_DESK]), moments)
def test_nothing_counts_on_a_holiday_or_a_closed_weekday(
    calendar: BusinessCalendar, moment: datetime
) -> None:
    day = calendar.local(moment).date()
    start, end = calendar.instant(day, 0), calendar.instant(day + timedelta(days=1), 0)
    length = business_between(calendar, start, end)
    if day in calendar.holidays or not calendar.week[day.weekday()]:
        assert length == timedelta()
    else:
        assert length > timedelta()


@settings(max_examples=200, deadline=None)
@given(calendars, st.lists(moments, min_size=3, max_size=3))
def test_a_pause_keeps_the_business_time_that_was_left(
    calendar: BusinessCalendar, three: list[datetime]
) -> None:
    paused, resumed, due = three[0], max(three), three[1]
    left = business_between(calendar, paused, due)
    moved = shifted_due(calendar, due, paused, resumed)
    assert moved >= resumed
    assert business_between(calendar, resumed, moved) == left


@pytest.mark.parametrize("calendar", CALENDARS, ids=lambda c: c.name)
def test_a_zero_amount_is_due_at_once_even_when_closed(calendar: BusinessCalendar) -> None:
    closed = berlin(2026, 12, 26, 3, 0)  # a Saturday night
    assert add_business(calendar, closed, timedelta()) == closed
