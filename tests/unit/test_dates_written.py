"""Dates in mail as Babel writes them, in every language and zone: the days kept by
``format_when`` and ``format_day`` and the clock written directly are Babel's own output."""

from __future__ import annotations

import gettext
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from babel import Locale
from babel.dates import format_datetime, match_skeleton

from aliasdesk.domain.languages import LANGUAGES
from aliasdesk.notify.language import MailLocale, _day_in, format_day, format_when, speaking

START = datetime(2026, 12, 7, 0, 7, tzinfo=UTC)
ZONES = [None, "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Pacific/Chatham"]
MOMENTS = [
    datetime(2025, 3, 30, 0, 59, tzinfo=UTC),  # Berlin's clocks go forward at 01:00 UTC
    datetime(2025, 3, 30, 1, 0, tzinfo=UTC),
    datetime(2025, 10, 26, 0, 30, tzinfo=UTC),
    datetime(2025, 12, 31, 23, 59, tzinfo=UTC),
    datetime(2026, 2, 28, 12, 5),  # naive: read as UTC
    *(START + timedelta(hours=h, minutes=17 * h) for h in range(24)),
]


def _babel_when(value: datetime, language: str, zone: str | None) -> str:
    """format_when as Babel writes the whole of it: the skeleton's pattern and "HH:mm"."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    local = value.astimezone(ZoneInfo(zone)) if zone else value
    babel_locale = Locale.parse(language)
    skeletons = babel_locale.datetime_skeletons
    skeleton = "yMMMEd" if "yMMMEd" in skeletons else match_skeleton("yMMMEd", skeletons)
    pattern = skeletons[skeleton].pattern
    day = format_datetime(local, pattern, tzinfo=local.tzinfo, locale=babel_locale)
    clock = format_datetime(local, "HH:mm", tzinfo=local.tzinfo, locale=babel_locale)
    return f"{day}, {clock} {local.tzname() or 'UTC'}"


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("zone", ZONES)
def test_when_is_written_as_babel_writes_it(language: str, zone: str | None) -> None:
    with speaking(gettext.NullTranslations(), MailLocale(language, zone)):
        for moment in MOMENTS:
            assert format_when(moment) == _babel_when(moment, language, zone)
        kept_before = _day_in.cache_info().hits
        for moment in MOMENTS:  # the second time every day comes from the kept ones
            assert format_when(moment) == _babel_when(moment, language, zone)
        assert _day_in.cache_info().hits - kept_before == len(MOMENTS)


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_day_is_written_as_babel_writes_it(language: str) -> None:
    babel_day = _babel_when(datetime.combine(date(2026, 1, 5), time(12), UTC), language, None)
    with speaking(gettext.NullTranslations(), MailLocale(language, "Asia/Tokyo")):
        assert format_day(date(2026, 1, 5)) == babel_day.rsplit(", ", 1)[0]
