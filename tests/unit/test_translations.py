"""Every kind renders in every language without English left in it, in the department
overrides too, with the right ``lang``, dates and durations in the reader's language,
and a language without texts falls back to English."""

from __future__ import annotations

import dataclasses
import gettext
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from aliasdesk.domain.languages import LANGUAGES, SOURCE_LANGUAGE
from aliasdesk.notify.catalogue import kind_names
from aliasdesk.notify.language import MailLocale
from aliasdesk.notify.render import RenderedMail, TemplateRenderer, sample_context
from tests.support.languages import english_leaks

TEMPLATES = Path(__file__).resolve().parents[2] / "templates" / "email"
TRANSLATED = [code for code in LANGUAGES if code != SOURCE_LANGUAGE]
COMMANDS = (
    "aliasdesk quarantine list",
    "aliasdesk deliveries list",
    "aliasdesk report --department",
    "--since",
    "--until",
    "aliasdesk tickets list --status open",
    "aliasdesk tickets show",
    "aliasdesk",
)
"""Command lines the admin and staff mails quote: the same in every language."""
TARGETS = [(kind, None) for kind in kind_names()] + [
    ("acknowledgement", "HR"),
    ("assignment", "IT"),
]


@pytest.fixture(scope="module")
def renderer() -> TemplateRenderer:
    return TemplateRenderer(TEMPLATES)


def facts_of(value: Any) -> Iterator[str]:
    """Every text a context carries: words that come from the facts, not from us."""
    if isinstance(value, str):
        yield value
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for item in dataclasses.fields(value):
            yield from facts_of(getattr(value, item.name))
    elif isinstance(value, tuple | list):
        for item in value:
            yield from facts_of(item)


def parts(mail: RenderedMail) -> list[str]:
    return [mail.subject, mail.text, mail.html]


@pytest.mark.parametrize("language", TRANSLATED)
@pytest.mark.parametrize(("kind", "department"), TARGETS)
def test_no_english_is_left_in_a_translated_mail(
    renderer: TemplateRenderer, kind: str, department: str | None, language: str
) -> None:
    context = sample_context(kind, department)
    english = renderer.render(kind, context, department)
    translated = renderer.render(kind, context, department, MailLocale(language))
    assert translated.text != english.text
    facts = [*facts_of(context), *COMMANDS]
    assert english_leaks(parts(translated), parts(english), language, facts) == []
    assert f'<html lang="{language}">' in translated.html


def test_the_leak_check_finds_an_untranslated_sentence(
    renderer: TemplateRenderer, tmp_path: Path
) -> None:
    """A sentence written into a template without {% trans %} is caught, though no
    catalog knows it."""
    context = sample_context("status_update")
    english = renderer.render("status_update", context)
    german = renderer.render("status_update", context, locale=MailLocale("de"))
    sneaked = "\nPlease rate us later on.\n"
    english_too = dataclasses.replace(english, text=english.text + sneaked)
    german_too = dataclasses.replace(german, text=german.text + sneaked)
    facts = list(facts_of(context))
    assert english_leaks(parts(german_too), parts(english_too), "de", facts) == [
        "Please rate us later on"
    ]
    assert english_leaks(parts(german), parts(english), "de", facts) == []
    # A mail left in English is caught by the catalog's msgids alone.
    assert english_leaks(parts(english), [], "de", facts) != []


def test_times_are_shown_in_the_zone_and_words_of_the_mail(renderer: TemplateRenderer) -> None:
    context = dataclasses.replace(
        sample_context("sla_warning"), due_at=datetime(2025, 7, 1, 14, 5, tzinfo=UTC)
    )
    berlin = renderer.render("sla_warning", context, locale=MailLocale("de", "Europe/Berlin"))
    assert "Di., 1. Juli 2025, 16:05 CEST" in berlin.text
    assert "45 Minuten" in berlin.text
    utc = renderer.render("sla_warning", context, locale=MailLocale("fr"))
    assert "mar. 1 juil. 2025, 14:05 UTC" in utc.text and "45 minutes" in utc.text


def test_an_unknown_language_is_written_in_english(renderer: TemplateRenderer) -> None:
    context = sample_context("acknowledgement")
    english = renderer.render("acknowledgement", context)
    assert renderer.render("acknowledgement", context, locale=MailLocale("it")) == english


def test_a_promise_in_working_time_says_by_when_on_the_departments_clock(
    renderer: TemplateRenderer,
) -> None:
    context = dataclasses.replace(
        sample_context("acknowledgement"),
        first_response_by=datetime(2026, 12, 7, 10, 0, tzinfo=UTC),
    )
    german = renderer.render("acknowledgement", context, locale=MailLocale("de", "Europe/Berlin"))
    assert (
        "Alice kümmert sich darum und meldet sich innerhalb von 4 Stunden Arbeitszeit bei "
        "Ihnen (bis Mo., 7. Dez. 2026, 11:00 CET)." in german.text
    )


@pytest.mark.parametrize("language", LANGUAGES)
def test_durations_are_written_in_each_mails_language_every_time(language: str) -> None:
    """Durations are kept once written; each language keeps its own words, and a kept
    one reads exactly as Babel writes it."""
    from babel.units import format_unit

    from aliasdesk.notify.language import describe_duration, speaking

    catalog = gettext.NullTranslations()  # the units' words are Babel's, not the catalog's
    english = describe_duration(timedelta(hours=4))
    for _ in range(2):
        with speaking(catalog, MailLocale(language)):
            four_hours = describe_duration(timedelta(hours=4))
            two_days = describe_duration(timedelta(days=2, hours=3))
        expected = format_unit(4, "duration-hour", length="long", locale=language)
        if "duration-hour" in expected:
            expected = format_unit(4, "duration-hour", length="short", locale=language)
        assert four_hours == expected.replace("\xa0", " ")
        assert two_days.startswith(
            format_unit(2, "duration-day", length="long", locale=language)
            .replace("\xa0", " ")
            .split(" ")[0]
        )
    if language != SOURCE_LANGUAGE:
        assert four_hours != english
