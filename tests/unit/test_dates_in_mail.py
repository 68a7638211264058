"""Dates in mail (notify/language.py ``format_when`` and ``format_day``): the pattern for
each language is looked up once, and must write every date as Babel's skeleton lookup
does."""

from __future__ import annotations

import gettext
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest
from babel.dates import format_datetime, format_skeleton

from aliasdesk.domain.languages import LANGUAGES
from aliasdesk.notify.language import MailLocale, format_day, format_when, speaking

MOMENTS = [
    datetime(2025, 3, 3, 10, 15, tzinfo=UTC),
    datetime(2024, 12, 31, 23, 59, tzinfo=UTC),  # the next day, and year, in Berlin
    datetime(2026, 7, 9, 4, 5),  # naive: read as UTC
]


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("zone", ["Europe/Berlin", "America/New_York", None])
def test_a_date_reads_as_babel_writes_it_in_every_language(language: str, zone: str | None) -> None:
    for moment in MOMENTS:
        with speaking(gettext.NullTranslations(), MailLocale(language, zone)):
            written = format_when(moment)
        aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        local = aware.astimezone(ZoneInfo(zone)) if zone else aware
        day = format_skeleton("yMMMEd", local, tzinfo=local.tzinfo, locale=language)
        clock = format_datetime(local, "HH:mm", tzinfo=local.tzinfo, locale=language)
        assert written == f"{day}, {clock} {local.tzname() or 'UTC'}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_day_reads_as_babel_writes_it_in_every_language(language: str) -> None:
    for moment in MOMENTS:
        with speaking(gettext.NullTranslations(), MailLocale(language, "Europe/Berlin")):
            written = format_day(moment.date())
        noon = datetime.combine(moment.date(), time(12), UTC)
        assert written == format_skeleton("yMMMEd", noon, tzinfo=UTC, locale=language)
