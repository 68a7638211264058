"""The languages aliasdesk writes its mail in, and the order in which one is chosen.

CONTRACT §5: a requester's mail is in their own choice (``#lang``), else the language of
their earlier tickets, else the language their request is written in (when the text is
long enough to tell), else the department's default. Pure: the facts are looked up by the
services layer and handed in.
"""

from __future__ import annotations

LANGUAGES = ("en", "de", "fr", "es", "nl")
"""Language codes (ISO 639-1) with a full set of notification texts; the first is the
language the templates are written in."""

SOURCE_LANGUAGE = LANGUAGES[0]


def known_language(code: str | None) -> str | None:
    """``code`` as one of :data:`LANGUAGES` ("DE", "de-CH" -> "de"), or None."""
    if not code:
        return None
    base = code.strip().lower().replace("_", "-").split("-", 1)[0]
    return base if base in LANGUAGES else None


def choose_language(
    *,
    own_choice: str | None,
    earlier: str | None,
    detected: str | None,
    department_default: str | None,
) -> str:
    """The first usable language in the contract's order; English when none is."""
    for candidate in (own_choice, earlier, detected, department_default):
        found = known_language(candidate)
        if found is not None:
            return found
    return SOURCE_LANGUAGE
