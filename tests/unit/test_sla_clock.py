"""The SLA clock's arithmetic: due moments, pauses, and the date old mail is given."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from aliasdesk.domain.organisation import Department
from aliasdesk.domain.sla_clock import (
    SlaTargets,
    due_moments,
    history_moment,
    targets_for,
)

RECEIVED = datetime(2026, 12, 6, 4, 0, tzinfo=UTC)
WRITTEN = datetime(2024, 3, 1, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, RECEIVED),
        ("", RECEIVED),
        ("not a date at all", RECEIVED),
        ("Fri, 01 Mar 2024 10:00:00 +0000", WRITTEN),
        ("Fri, 01 Mar 2024 11:00:00 +0100", WRITTEN),
        ("Fri, 01 Mar 2024 10:00:00 -0000", WRITTEN),  # zone unknown: read as UTC
        ("Sat, 01 Mar 2031 10:00:00 +0000", RECEIVED),  # from the future: not believed
        ("Fri, 01 Mar 99999 10:00:00 +0000", RECEIVED),
        ("Thu, 01 Jan 1970 00:00:00 +0000", RECEIVED),  # an unset clock
        ("Fri, 31 Dec 9999 23:59:59 -2359", RECEIVED),
    ],
)
def test_history_is_dated_by_its_header_unless_the_header_is_unusable(
    header: str | None, expected: datetime
) -> None:
    assert history_moment(header, RECEIVED) == expected


def test_warning_at_80_percent_and_breach_at_the_target() -> None:
    targets = SlaTargets(first_response=timedelta(hours=4), resolution=None)
    assert due_moments(WRITTEN, targets) == [
        ("first_response_warning", WRITTEN + timedelta(hours=3, minutes=12)),
        ("first_response_breach", WRITTEN + timedelta(hours=4)),
    ]


def test_targets_come_from_the_department() -> None:
    hr = Department(
        key="HR",
        name="Human Resources",
        aliases=("hr@example.com",),
        sla_first_response=timedelta(hours=4),
    )
    assert targets_for(hr, "high") == SlaTargets(timedelta(hours=4), None)
    assert targets_for(None, "normal") == SlaTargets()
