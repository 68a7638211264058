"""SLA durations as admins write them in the routing file."""

from __future__ import annotations

from datetime import timedelta

import pytest

from aliasdesk.domain.durations import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30m", timedelta(minutes=30)),
        ("4h", timedelta(hours=4)),
        ("3d", timedelta(days=3)),
        ("1w", timedelta(weeks=1)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("1d12h", timedelta(days=1, hours=12)),
        ("45s", timedelta(seconds=45)),
        (" 2H ", timedelta(hours=2)),
        ("1h 30m", timedelta(hours=1, minutes=30)),
    ],
)
def test_parses_common_forms(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "use a number with a unit"),
        ("4", "use a number with a unit"),
        ("h", "use a number with a unit"),
        ("4 hours", "use a number with a unit"),
        ("1.5h", "use a number with a unit"),
        ("-1h", "use a number with a unit"),
        ("30m1h", "largest first"),
        ("1h1h", "largest first"),
        ("0h", "longer than zero"),
    ],
)
def test_rejects_with_a_clear_message(text: str, why: str) -> None:
    with pytest.raises(ValueError, match=why) as caught:
        parse_duration(text)
    assert f'"{text}" is not a duration' in str(caught.value)


def test_rejects_non_text() -> None:
    with pytest.raises(ValueError, match="expected a duration"):
        parse_duration(60)  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["30m", "4h", "3d", "1w", "1h30m", "1w2d3h4m5s"])
def test_format_round_trips(text: str) -> None:
    assert format_duration(parse_duration(text)) == text
