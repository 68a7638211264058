"""The language and time zone one mail is written in, and the translations it reads.

Templates translate with the Jinja2 i18n extension (``{% trans %}``, ``_()``); sentences
built in Python (what happens next after a status change, the rating scale, durations)
call :func:`_` here, which reads the catalog of the mail being rendered. That catalog is
set for the duration of one render by :func:`speaking`, a context variable rather than a
global, so two threads rendering in two languages never see each other's.

Catalogs are gettext ``.mo`` files under ``<template dir>/locale/<lang>/LC_MESSAGES/``
(compiled from the ``.po`` files beside them), so the words travel with the templates
they belong to, into the wheel and the image.
"""

from __future__ import annotations

import functools
import gettext
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.core import Locale
from babel.dates import format_datetime, match_skeleton
from babel.support import Translations
from babel.units import format_unit

from aliasdesk.domain.languages import LANGUAGES, SOURCE_LANGUAGE, known_language

CATALOG_FOLDER = "locale"
CATALOG_DOMAIN = "messages"


@dataclass(frozen=True, slots=True)
class MailLocale:
    """How one mail speaks: its language and the time zone its times are shown in."""

    language: str = SOURCE_LANGUAGE
    timezone: str | None = None
    """None: a time is shown in the zone it carries (the web pages, a bare render)."""

    def zone(self) -> ZoneInfo | None:
        """The time zone; UTC for a name this system's zone database does not know."""
        if self.timezone is None:
            return None
        try:
            return ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            return ZoneInfo("UTC")


ENGLISH = MailLocale()


def load_catalog(template_dir: Path, language: str) -> gettext.NullTranslations:
    """The compiled catalog of ``language``; none (the English msgids) for English or
    when the template folder brings no catalog of its own."""
    code = known_language(language) or SOURCE_LANGUAGE
    if code == SOURCE_LANGUAGE:
        return gettext.NullTranslations()
    found = Translations.load(
        str(Path(template_dir) / CATALOG_FOLDER), locales=[code], domain=CATALOG_DOMAIN
    )
    return found


_LOADED: dict[tuple[str, str], tuple[tuple[int, int] | None, gettext.NullTranslations]] = {}


def cached_catalog(template_dir: Path, language: str) -> gettext.NullTranslations:
    """``load_catalog``, read from disk again only when the compiled catalog changed: for
    code that speaks outside the renderer on every mail (the answers to commands, the
    dashboard's words), which would otherwise parse the same file each time."""
    code = known_language(language) or SOURCE_LANGUAGE
    file = Path(template_dir) / CATALOG_FOLDER / code / "LC_MESSAGES" / f"{CATALOG_DOMAIN}.mo"
    try:
        found = file.stat()
        stamp: tuple[int, int] | None = (found.st_mtime_ns, found.st_size)
    except OSError:
        stamp = None
    key = (str(template_dir), code)
    known = _LOADED.get(key)
    if known is not None and known[0] == stamp:
        return known[1]
    catalog = load_catalog(template_dir, code)
    _LOADED[key] = (stamp, catalog)
    return catalog


@dataclass(frozen=True, slots=True)
class _Speaking:
    catalog: gettext.NullTranslations
    locale: MailLocale


_SPEAKING: ContextVar[_Speaking | None] = ContextVar("aliasdesk_speaking", default=None)
_ENGLISH_SPEAKING = _Speaking(gettext.NullTranslations(), ENGLISH)


def _speaking_now() -> _Speaking:
    return _SPEAKING.get() or _ENGLISH_SPEAKING


@contextmanager
def speaking(catalog: gettext.NullTranslations, locale: MailLocale) -> Iterator[None]:
    """Within this block, :func:`_` and the formatters speak ``locale``."""
    token = _SPEAKING.set(_Speaking(catalog, locale))
    try:
        yield
    finally:
        _SPEAKING.reset(token)


def current_locale() -> MailLocale:
    return _speaking_now().locale


def _(message: str) -> str:
    """``message`` in the language of the mail being rendered (English outside a render)."""
    return _speaking_now().catalog.gettext(message)


def N_(message: str) -> str:
    """Mark ``message`` for the catalog where it is written down (a table of texts read
    before any render), and leave it as it is: it is translated where it is shown."""
    return message


def ngettext(singular: str, plural: str, n: int) -> str:
    return _speaking_now().catalog.ngettext(singular, plural, n)


def format_when(value: datetime) -> str:
    """'Mon, 3 Mar 2025, 10:15 CET': the date as the reader's language writes it, the
    time in the department's zone, with the zone's abbreviation so nobody has to guess."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    locale = current_locale()
    zone = locale.zone()
    local = value.astimezone(zone) if zone is not None else value
    day = _day_in(local.date(), locale.language)
    # Babel writes "HH:mm" with ASCII digits in every language.
    return f"{day}, {local.hour:02d}:{local.minute:02d} {local.tzname() or 'UTC'}"


@functools.cache
def _day_pattern(language: str) -> tuple[Locale, str]:
    """The language's Babel locale and its pattern for the "yMMMEd" skeleton, looked up
    once for ``format_when`` and ``format_day``: ``format_skeleton`` looked both up on
    every call, most of the cost of a date in a mail (22 against 9.7 µs a ``format_when``,
    two a notice at least)."""
    babel_locale = Locale.parse(language)
    skeletons = babel_locale.datetime_skeletons
    skeleton = "yMMMEd" if "yMMMEd" in skeletons else match_skeleton("yMMMEd", skeletons)
    return babel_locale, skeletons[skeleton].pattern


def format_day(value: date) -> str:
    """'Mon, 3 Mar 2025': a calendar day (no time, so no zone) as the reader's language
    writes it."""
    return _day_in(value, current_locale().language)


@functools.lru_cache(maxsize=4096)
def _day_in(value: date, language: str) -> str:
    """A day as ``language`` writes it, kept: the pattern has fields of the date only, and
    a run of mail names a few days (Babel took 14 µs a ``format_when`` with its clock)."""
    noon = datetime.combine(value, time(12), UTC)
    babel_locale, day_pattern = _day_pattern(language)
    return format_datetime(noon, day_pattern, tzinfo=UTC, locale=babel_locale)


_UNITS = (("duration-day", 24 * 60), ("duration-hour", 60), ("duration-minute", 1))


def _unit(count: int, unit: str) -> str:
    """'3 hours', '3 Stunden', in the language being spoken."""
    return _unit_in(count, unit, current_locale().language)


@functools.lru_cache(maxsize=1024)
def _unit_in(count: int, unit: str, language: str) -> str:
    """Some locales (Dutch) carry only the short plural forms of a unit in Babel's data,
    which then answers with the unit's id: use those forms.

    Kept: a department's targets are a handful of durations, and Babel took longer to
    write one (its plural rules and patterns looked up on every call) than the rest of
    the acknowledgement's promise."""
    text = format_unit(count, unit, length="long", locale=language)
    if unit in text:
        text = format_unit(count, unit, length="short", locale=language)
    return text.replace("\xa0", " ")


def describe_duration(delta: timedelta) -> str:
    """'2 days 3 hours', '45 minutes': coarse on purpose, people read it, not machines."""
    minutes = max(0, int(delta.total_seconds() // 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    parts = [(days, _UNITS[0][0]), (hours, _UNITS[1][0])]
    if not days:
        parts = [(hours, _UNITS[1][0]), (mins, _UNITS[2][0])]
    words = [_unit(n, unit) for n, unit in parts if n]
    return " ".join(words) or _("less than a minute")


__all__ = [
    "LANGUAGES",
    "N_",
    "MailLocale",
    "current_locale",
    "describe_duration",
    "format_day",
    "format_when",
    "load_catalog",
    "ngettext",
    "speaking",
]
