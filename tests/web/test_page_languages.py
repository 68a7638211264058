"""Every page renders in every language without English left in it, with the right
``lang``, and with dates, durations and numbers in the reader's language and zone.

The pages are rendered from the shipped templates with sample facts covering each of
their states (every notice, every refusal, a ticket in each status, a dashboard with a
queue); the leak check is the one the mail uses (tests/support/languages.py).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest

from aliasdesk.domain.languages import LANGUAGES, SOURCE_LANGUAGE
from aliasdesk.notify.language import MailLocale
from aliasdesk.services.dashboard import PERIODS, DepartmentView, OwnerQueue, QueuedTicket
from aliasdesk.services.ticket_page import PageFile, PageMessage, TicketPage
from aliasdesk.settings.shipped import template_dir, web_template_dir
from tests.support.languages import english_leaks
from web import pages, sign_in
from web.dashboard import seconds
from web.language import LANGUAGE_CHOICES, PageTemplates, accepted_language, share

TRANSLATED = [code for code in LANGUAGES if code != SOURCE_LANGUAGE]
BERLIN = "Europe/Berlin"
AT = datetime(2026, 7, 1, 14, 5, tzinfo=UTC)
FACTS = (
    "Parental leave",
    "HR-42",
    "Human Resources",
    "Alice Archer",
    "Which form do I need for the leave in June?",
    "The form is LV-2, attached.",
    "leave-form.pdf",
    "Also from July?",
    "hanna@example.com",
    "Laptop broken",
    "aliasdesk",
    "CSV",
    "SLA",
    "ALIASDESK_WEB_URL",
    *(name for _code, name in LANGUAGE_CHOICES),
)
"""Words that come from the facts (or are names), in any language by right."""


@pytest.fixture(scope="module")
def templates() -> PageTemplates:
    return PageTemplates(web_template_dir(), template_dir())


def ticket(status: str, **changes: Any) -> TicketPage:
    page = TicketPage(
        ref="HR-42",
        subject="Parental leave",
        department_name="Human Resources",
        status=status,
        owner_name="Alice Archer",
        due_at=AT,
        due_kind="first_response",
        messages=(
            PageMessage("", AT, "Which form do I need for the leave in June?", True),
            PageMessage("Alice Archer", AT, "The form is LV-2, attached.", False),
        ),
        files=(PageFile("leave-form.pdf", 2_600_000),),
        rating=None,
        can_rate=False,
        can_solve=status in ("new", "open", "pending"),
        can_reply=status != "closed",
        locale=MailLocale(SOURCE_LANGUAGE, BERLIN),
    )
    return dataclasses.replace(page, **changes)


def ticket_pages() -> Iterator[tuple[str, dict[str, Any]]]:
    form = {"token": "t0k3n", "form_token": "f0rm", "chosen": None, "asked_to_rate": False}
    for status in ("new", "open", "pending"):
        yield "ticket.html", {**form, "page": ticket(status), "notice": ""}
    resolved = ticket("resolved", due_at=None, can_rate=True)
    yield "ticket.html", {**form, "page": resolved, "notice": "", "chosen": 4}
    yield (
        "ticket.html",
        {**form, "page": ticket("new", owner_name=None), "asked_to_rate": True, "notice": ""},
    )
    rated = ticket("closed", due_at=None, rating=5, can_rate=True, messages=(), files=())
    for notice in pages.DONE_WORDS.values():
        yield "ticket.html", {**form, "page": rated, "notice": notice}
    second = ticket("open", due_kind="resolution")
    yield "ticket.html", {**form, "page": second, "notice": ""}
    for action, text in (("solve", ""), ("reply", "Also from July?")):
        pending = {"action": action, "text": text, "nonce": "n0nce"}
        yield (
            "confirm.html",
            {
                **form,
                "ref": "HR-42",
                "subject": "Parental leave",
                "department_name": "Human Resources",
                "pending": pending,
            },
        )


def other_pages() -> Iterator[tuple[str, dict[str, Any]]]:
    for _status, title, text in [*pages.REFUSALS.values(), *sign_in.REFUSALS.values()]:
        yield "refused.html", {"title": title, "text": text, "facts": {"minutes": 15}}
    yield (
        "refused.html",
        {
            "title": "Your requests",
            "text": "Open the link in a mail about your request to see it here.",
        },
    )
    yield "signin.html", {"form_token": "f", "notice": "You are signed out.", "asked": ""}
    yield (
        "signin.html",
        {"form_token": "f", "notice": "", "asked": "hanna@example.com", "minutes": 15},
    )
    yield "signin_link.html", {"token": "t", "form_token": "f"}
    for period in PERIODS:
        yield "dashboard.html", dashboard(period)


def dashboard(period: str) -> dict[str, Any]:
    figures = {
        "tickets_in": 12,
        "resolved": 9,
        "backlog": 3,
        "first_response": {"median_s": 5400, "p90_s": 97200},
        "resolution": {"median_s": 0, "p90_s": None},
        "sla_attainment": 0.875,
        "reopen_rate": 0.0,
        "rating": {
            "average": 4.5,
            "count": 4,
            "response_rate": 0.5,
            "distribution": {"1": 0, "2": 0, "3": 1, "4": 0, "5": 3},
        },
    }
    queue = [
        OwnerQueue(
            "Alice Archer",
            [
                QueuedTicket("HR-42", "Parental leave", "high", "open", AT, True, False),
                QueuedTicket("HR-43", "Parental leave", "urgent", "pending", AT, False, True),
                QueuedTicket("HR-44", "Parental leave", "low", "new", AT, False, False),
            ],
        ),
        OwnerQueue(
            None, [QueuedTicket("HR-45", "Laptop broken", "normal", "new", None, False, False)]
        ),
    ]
    views = [
        DepartmentView(
            "HR", "Human Resources", date(2026, 6, 29), date(2026, 7, 1), figures, queue
        ),
        DepartmentView("FAC", "Human Resources", date(2026, 6, 29), date(2026, 7, 1), figures, []),
    ]
    return {
        "address": "hanna@example.com",
        "views": views,
        "period": period,
        "periods": PERIODS,
        "seconds": seconds,
        "share": share,
        "form_token": "f",
    }


PAGES = [*ticket_pages(), *other_pages()]
_STYLE = re.compile(r"<style>.*?</style>", re.S)


def shown(html: str) -> list[str]:
    """What a reader sees of a page (the style sheet is no words of ours)."""
    return [_STYLE.sub("", html)]


@pytest.mark.parametrize("language", TRANSLATED)
@pytest.mark.parametrize(
    ("name", "values"), PAGES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(PAGES)]
)
def test_no_english_is_left_in_a_translated_page(
    templates: PageTemplates, name: str, values: dict[str, Any], language: str
) -> None:
    english = templates.render(name, MailLocale(SOURCE_LANGUAGE, BERLIN), **values)
    translated = templates.render(name, MailLocale(language, BERLIN), **values)
    assert translated != english
    assert f'<html lang="{language}">' in translated
    assert english_leaks(shown(translated), shown(english), language, FACTS) == []


def test_the_leak_check_finds_a_page_sentence_left_in_english(templates: PageTemplates) -> None:
    values = dict(next(ticket_pages())[1])
    english = templates.render("ticket.html", MailLocale("en"), **values)
    german = templates.render("ticket.html", MailLocale("de"), **values)
    assert english_leaks(shown(english), shown(english), "de", FACTS) != []
    sneaked = "<p>Please check back later today.</p>"
    assert english_leaks(shown(german + sneaked), shown(english + sneaked), "de", FACTS) == [
        "Please check back later today"
    ]


def test_times_durations_and_numbers_are_in_the_pages_language_and_zone(
    templates: PageTemplates,
) -> None:
    page = ticket("new")
    german = templates.render(
        "ticket.html", MailLocale("de", BERLIN), **dict(next(ticket_pages())[1], page=page)
    )
    assert "Mi., 1. Juli 2026, 16:05 CEST" in german  # Babel's German, Berlin's clock
    assert '<span class="status" id="status">Neu</span>' in german  # the mail's word "neu"
    assert "Jemand aus dem Team übernimmt die Anfrage in Kürze." in german  # mail's next step
    assert "2,5 MB" in german
    board = templates.render("dashboard.html", MailLocale("fr", BERLIN), **dashboard("week"))
    assert "1 heure 30 minutes" in board and "88\u00a0%" in board and "4,5 sur 5" in board
    assert "lun. 29 juin 2026" in board


@pytest.mark.parametrize(
    ("header", "language"),
    [
        ("", "en"),
        ("de-CH,de;q=0.9,en;q=0.8", "de"),
        ("it, fr;q=0.5, nl;q=0.7", "nl"),
        ("en;q=0.1, es", "es"),
        ("fr;q=0, de;q=oops, nl;q=0.2", "nl"),
        ("x" * 5000 + ",de", "en"),
        ("*", "en"),
    ],
)
def test_the_browsers_language_is_the_first_aliasdesk_writes(header: str, language: str) -> None:
    assert accepted_language(header) == language
