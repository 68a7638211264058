"""Finding English left in a mail that should be in another language.

Two views, because each misses what the other sees: the English msgids of the catalog
(a sentence the catalog has but the mail shows untranslated), and the English rendering
of the same mail (a sentence written into a template without ``{% trans %}``, which no
catalog knows about). Words that come from the facts (a subject, a name, the request's
own text) are in both renderings by right and are not counted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from html import unescape
from pathlib import Path

from babel.messages.pofile import read_po
from markupsafe import escape

LOCALE = Path(__file__).resolve().parents[2] / "templates" / "email" / "locale"
_PLACEHOLDER = re.compile(r"%\(\w+\)s|\{\{.*?\}\}")
_TAG = re.compile(r"<[^>]+>")
_PHRASE_END = re.compile(r"[\n.;:?!()\[\]“”\"«»„]+")
_WORD = re.compile(r"[^\W\d_]{2}")
MIN_WORDS = 3


def plain(text: str) -> str:
    """Text of a mail part with HTML tags and entities gone and spaces normalised."""
    return " ".join(unescape(_TAG.sub(" ", text)).split())


def phrases(text: str) -> set[str]:
    """Runs of at least MIN_WORDS words between punctuation: what a reader would spot."""
    found = set()
    for piece in _PHRASE_END.split(unescape(_TAG.sub("\n", text))):
        words = piece.split()
        if len([w for w in words if _WORD.search(w)]) >= MIN_WORDS:
            found.add(" ".join(words))
    return found


def catalog(language: str) -> dict[str, str]:
    with (LOCALE / language / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        return {str(m.id): str(m.string) for m in read_po(handle) if m.id}


def english_fragments(language: str) -> set[str]:
    """The literal parts of every msgid, minus those its translation keeps as they are."""
    fragments: set[str] = set()
    for msgid, msgstr in catalog(language).items():
        for part in _PLACEHOLDER.split(msgid):
            for phrase in phrases(part):
                if phrase not in plain(msgstr):
                    fragments.add(phrase)
    return fragments


def without_facts(text: str, facts: Iterable[str]) -> str:
    """``text`` with every fact cut out (a break in its place), so that a phrase glued
    together from facts ("Alice · HR-42") is not taken for a sentence of ours. Facts are
    cut as written and as HTML shows them, before the tags go, and line by line (a
    quoted text is indented)."""
    cleaned = text
    pieces = {piece.strip() for f in facts for piece in [str(f), *str(f).splitlines()]}
    for fact in sorted(pieces, key=len, reverse=True):
        for form in {fact, str(escape(fact))}:
            if len(form) >= 3:
                cleaned = re.sub(rf"(?<!\w){re.escape(form)}(?!\w)", "\n", cleaned)
    return plain_lines(cleaned)


def plain_lines(text: str) -> str:
    """Like :func:`plain`, but keeping line breaks, which end phrases."""
    return unescape(_TAG.sub("\n", text))


def english_leaks(
    translated: Iterable[str], english: Iterable[str], language: str, facts: Iterable[str] = ()
) -> list[str]:
    """English phrases found in the ``translated`` parts of a mail.

    ``english``: the same mail rendered in English; ``facts``: the values the mail was
    rendered from, whose words may appear in any language.
    """
    known = list(facts)
    shown = " ".join(" ".join(without_facts(part, known).split()) for part in translated)
    suspects = english_fragments(language)
    for part in english:
        suspects |= phrases(without_facts(part, known))
    return sorted(p for p in suspects if p in shown)
