"""Calendars and service levels in the routing file: what an admin writes, what it becomes,
and every mistake reported with its line and field."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from aliasdesk.domain.sla_clock import SlaTargets, targets_for
from aliasdesk.settings.routing_file import check_routing, load_routing
from tests.support.fresh_process import printed_by_fresh_process
from tests.unit.test_routing_file import VALID, errors_of, where, write

CALENDARS = """\
calendars:
  office:
    timezone: Europe/Berlin
    hours: {mon-fri: "08:00-12:00, 13:00-17:00", sat: "09:00-12:00"}
    holidays: [2026-12-24, "2026-12-28"]
    ical: holidays.ics
"""
HOLIDAY_FEED = """\
BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//Example Corp//holidays//EN
BEGIN:VEVENT
UID:xmas@example.com
DTSTART;VALUE=DATE:20261225
DTEND;VALUE=DATE:20261227
RRULE:FREQ=YEARLY
EXDATE;VALUE=DATE:20271225
SUMMARY:Christmas
END:VEVENT
BEGIN:VEVENT
UID:move@example.com
DTSTART:20260430T230000Z
DTEND:20260501T030000Z
SUMMARY:Office move
END:VEVENT
END:VCALENDAR
"""


def with_calendar(sla: str, calendar: str = "    calendar: office\n") -> str:
    text = VALID.replace("    sla: {first_response: 4h, resolution: 3d}\n", sla + calendar)
    return text + CALENDARS


def test_a_calendar_with_hours_holidays_and_an_ical_feed(tmp_path: Path) -> None:
    (tmp_path / "holidays.ics").write_text(HOLIDAY_FEED, encoding="utf-8")
    sla = "    sla: {first_response: 8h, resolution: 5d, urgent: {first_response: 1h}}\n"
    config = load_routing(write(tmp_path, with_calendar(sla)))
    hr = config.departments["HR"]
    calendar = hr.calendar
    assert calendar is config.calendars["office"] and calendar.timezone == "Europe/Berlin"
    assert calendar.week[0] == ((480, 720), (780, 1020)) and calendar.week[5] == ((540, 720),)
    assert calendar.week[6] == ()
    assert {date(2026, 12, 24), date(2026, 12, 28)} <= calendar.holidays  # listed
    assert {date(2026, 12, 25), date(2026, 12, 26), date(2028, 12, 26)} <= calendar.holidays
    # EXDATE takes out the whole occurrence that starts on that date (RFC 5545 §3.8.5.1).
    assert not {date(2027, 12, 25), date(2027, 12, 26)} & calendar.holidays
    assert date(2026, 5, 1) in calendar.holidays  # 01:00-05:00 in Berlin
    assert date(2026, 4, 30) not in calendar.holidays
    assert targets_for(hr, "urgent") == SlaTargets(timedelta(hours=1), timedelta(days=5))
    assert targets_for(hr, "normal") == SlaTargets(timedelta(hours=8), timedelta(days=5))
    assert hr.sla_pause_on == ("pending",)
    assert config.departments["IT"].calendar.round_the_clock


def test_a_routing_file_without_a_feed_loads_no_icalendar() -> None:
    """Every process reads the routing file; one that names no iCalendar feed (the
    shipped one) must not hold icalendar and dateutil's rules for good."""
    shipped = Path(__file__).resolve().parents[2] / "config" / "routing.yaml"
    probe = (
        "import sys\n"
        "import aliasdesk.cli.commands, aliasdesk.cli.run, worker.process\n"
        "from aliasdesk.settings.routing_file import load_routing\n"
        f"assert load_routing({str(shipped)!r}).calendars\n"
        "print(','.join(sorted(m for m in ('icalendar', 'dateutil.rrule') if m in sys.modules)))\n"
    )
    assert printed_by_fresh_process(probe) == ""


def test_pause_on_lists_the_statuses_that_stop_the_clock(tmp_path: Path) -> None:
    text = with_calendar("    sla: {first_response: 4h, pause_on: [pending, new]}\n")
    (tmp_path / "holidays.ics").write_text(HOLIDAY_FEED, encoding="utf-8")
    assert load_routing(write(tmp_path, text)).departments["HR"].sla_pause_on == (
        "pending",
        "new",
    )
    never = with_calendar("    sla: {first_response: 4h, pause_on: []}\n")
    assert load_routing(write(tmp_path, never)).departments["HR"].sla_pause_on == ()


def test_every_mistake_in_calendars_and_targets_is_reported(tmp_path: Path) -> None:
    sla = "    sla: {first_response: 4h, urgent: {first_respons: 1h}, pause_on: [resolved]}\n"
    text = with_calendar(sla).replace(
        CALENDARS,
        """\
calendars:
  office:
    timezone: Mars/Olympus
    hours: {mon-fri: "08:00-17:00", fri: "18:00-08:00", sun-sat: "x"}
    holidays: ["2026-02-30", tomorrow]
    ical: missing.ics
""",
    )
    errors = errors_of(tmp_path, text)
    assert where(errors) == [
        (10, "departments.HR.sla.pause_on[0]"),
        (10, "departments.HR.sla.urgent.first_respons"),
        (24, "calendars.office.timezone"),
        (25, "calendars.office.hours.fri"),
        (25, "calendars.office.hours.fri"),
        (25, "calendars.office.hours.sun-sat"),
        (25, "calendars.office.hours.sun-sat"),
        (26, "calendars.office.holidays[0]"),
        (26, "calendars.office.holidays[1]"),
    ]
    messages = " | ".join(error.message for error in errors)
    assert 'did you mean "first_response"?' in messages
    assert "fri is given twice" in messages and "ends before it starts" in messages
    # HR names "office", which is broken: its own errors say enough, no "unknown calendar".
    assert "Europe/Berlin" in messages and "runs backwards" in messages


def test_a_department_naming_no_calendar_of_the_file(tmp_path: Path) -> None:
    (tmp_path / "holidays.ics").write_text(HOLIDAY_FEED, encoding="utf-8")
    errors = errors_of(tmp_path, with_calendar("", "    calendar: ofice\n"))
    assert [(e.line, e.field, e.message) for e in errors] == [
        (10, "departments.HR.calendar", 'unknown calendar "ofice"; known: office')
    ]


def test_an_unreadable_holiday_feed_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "holidays.ics").write_text("BEGIN:VCALENDAR\nthis is not", encoding="utf-8")
    errors = check_routing(write(tmp_path, with_calendar("")))
    assert [(e.field, "holidays.ics" in e.message) for e in errors] == [
        ("calendars.office.ical", True)
    ]
