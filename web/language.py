"""The language a page speaks, and its templates in each language.

A page speaks as the mail of the person it is for does (CONTRACT §5):

- the requester's pages (their ticket, the rating offered, the confirmation) in the
  ticket's language, the one its mail is written in, with times in the department's zone;
- the dashboard and a sign-in link's page in the member's language (``language:`` of the
  member in the routing file, else their department's);
- every page that has not shown whom it is for (a refused link, the sign-in form and its
  answer, the home page) in the browser's ``Accept-Language``, else English. Never in the
  ticket's language: a refusal that spoke it would tell whoever tries links that one
  opens a ticket, and something about its requester; and the sign-in form's answer must
  read the same whether the typed address belongs to a member or not.

The words come from the mail's own catalogs (``templates/email/locale``, one domain): the
status words and what happens next are the sentences mail uses, and one catalog keeps a
translator from wording the same thing twice. A text a page shows is marked where it is
written (``{% trans %}``, ``_()`` in templates, ``N_`` in tables of texts) and translated
while the page renders, inside :func:`aliasdesk.notify.language.speaking`, so the
formatters (dates, durations, sizes) speak the page's language too.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import jinja2
from babel import Locale
from babel.numbers import format_decimal, format_percent
from starlette.types import ASGIApp, Receive, Scope, Send

from aliasdesk.domain.languages import LANGUAGES, SOURCE_LANGUAGE, known_language
from aliasdesk.notify.language import (
    MailLocale,
    current_locale,
    describe_duration,
    format_day,
    format_when,
    load_catalog,
    speaking,
)
from aliasdesk.notify.wording import page_next_step, priority_word, size_text, status_word

_VISITOR: ContextVar[str] = ContextVar("aliasdesk_visitor_language", default=SOURCE_LANGUAGE)
MAX_HEADER = 512
MAX_RANGES = 16


def accepted_language(header: str) -> str:
    """The first language of ``Accept-Language`` (RFC 9110 §12.5.4, by weight) that
    aliasdesk writes; English when none is. A long or odd header is cut, never an error."""
    ranked: list[tuple[float, int, str]] = []
    for position, item in enumerate(header[:MAX_HEADER].split(",")[:MAX_RANGES]):
        tag, _, params = item.strip().partition(";")
        weight = 1.0
        name, _, value = params.strip().partition("=")
        if name.strip().lower() == "q":
            try:
                weight = float(value)
            except ValueError:
                weight = 0.0
        code = known_language(tag)
        if code is not None and weight > 0:
            ranked.append((-weight, position, code))
    return min(ranked)[2] if ranked else SOURCE_LANGUAGE


def visitor_locale() -> MailLocale:
    """The language of the browser making the current request (see :class:`VisitorLanguage`)."""
    return MailLocale(_VISITOR.get())


class VisitorLanguage:
    """Notes each request's ``Accept-Language`` for the pages that speak it.

    Kept in a context variable for the request's task (and the worker threads it runs
    database work in, which copy it), so a refusal deep in a handler needs no request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        header = ""
        for name, value in scope.get("headers", ()):
            if name == b"accept-language":
                header = value.decode("latin-1")
                break
        token = _VISITOR.set(accepted_language(header))
        try:
            await self.app(scope, receive, send)
        finally:
            _VISITOR.reset(token)


def language_name(code: str) -> str:
    """A language as its own speakers write it ("Deutsch", "Français"): how a choice of
    language is offered, so each reader finds their own whatever the page speaks."""
    name = Locale.parse(code).get_display_name(code) or code
    return name[:1].upper() + name[1:]


LANGUAGE_CHOICES: tuple[tuple[str, str], ...] = tuple((c, language_name(c)) for c in LANGUAGES)


def _capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]


def number(value: float) -> str:
    """A figure with decimals as the reader's language writes it ("4,5" in German)."""
    return format_decimal(value, format="#,##0.#", locale=current_locale().language)


def share(value: float | None) -> str:
    """A fraction as a percentage in the reader's language; a dash where there is none."""
    if value is None:
        return "–"
    return format_percent(value, locale=current_locale().language)


FILTERS: dict[str, Callable[..., Any]] = {
    "when": format_when,
    "day": format_day,
    "duration": describe_duration,
    "size": size_text,
    "status_word": lambda status: _capitalised(status_word(status)),
    "next_step": page_next_step,
    "priority_word": priority_word,
    "number": number,
    "share": share,
}


class PageTemplates:
    """The page templates, one Jinja2 environment per language with its catalog installed
    (all made at start: a page never waits for a catalog, and no two threads race to
    make one)."""

    def __init__(self, template_dir: Path, catalog_dir: Path) -> None:
        self._environments: dict[str, tuple[jinja2.Environment, Any]] = {}
        for code in LANGUAGES:
            catalog = load_catalog(catalog_dir, code)
            environment = jinja2.Environment(
                loader=jinja2.FileSystemLoader(str(template_dir)),
                autoescape=True,
                undefined=jinja2.StrictUndefined,
                trim_blocks=True,
                lstrip_blocks=True,
                extensions=["jinja2.ext.i18n"],
            )
            environment.install_gettext_translations(catalog, newstyle=True)  # type: ignore[attr-defined]
            environment.globals["language"] = code
            environment.globals["language_choices"] = LANGUAGE_CHOICES
            environment.filters.update(FILTERS)
            self._environments[code] = (environment, catalog)

    def render(self, name: str, locale: MailLocale, **values: Any) -> str:
        """``name`` in ``locale``'s language, its times in ``locale``'s zone."""
        code = known_language(locale.language) or SOURCE_LANGUAGE
        environment, catalog = self._environments[code]
        with speaking(catalog, MailLocale(code, locale.timezone)):
            return environment.get_template(name).render(**values)
