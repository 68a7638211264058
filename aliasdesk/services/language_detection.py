"""Telling the language a text is written in: the detector, without the rest of
services/languages.py (which reads the database). ``aliasdesk import``'s helper process
classifies texts and needs nothing else: importing only this kept about 30 MB of
SQLAlchemy and the models out of its memory."""

from __future__ import annotations

import hashlib
import re

from aliasdesk.domain.languages import known_language
from aliasdesk.services.language_model import identifier

MIN_LETTERS = 40
"""A text with fewer letters than this ("Thanks!", "see attachment") says too little to
tell its language; the next rule in the order decides."""
MIN_CONFIDENCE = 0.9
TEXT_READ = 4000
"""Characters of a text the detector reads: its first lines tell the language, and the
walk's cost grows with every character."""
_ENOUGH_LETTERS = re.compile(rf"(?:[\W\d_]*+[^\W\d_]){{{MIN_LETTERS}}}")
"""Matches at the start of a text with at least MIN_LETTERS letters, stopping at the last
one needed: counting every letter of a long text built a list of them all (40 µs a text)."""


def warm_up() -> None:
    """Load the detector's model now, before the process takes work, not with its first
    request. It comes from the package's own file: nothing is downloaded, ever."""
    identifier()


def detect_language(text: str) -> str | None:
    """The language of ``text`` if it is one aliasdesk writes and the detector is sure.

    The detector knows about a hundred languages, so an Italian request comes back as
    Italian (and falls back) instead of as the closest language we have texts in.
    """
    head = text[:TEXT_READ]
    if _ENOUGH_LETTERS.match(head) is None:
        return None
    code, probability = identifier().classify(head)
    return known_language(str(code)) if probability >= MIN_CONFIDENCE else None


def text_key(text: str) -> int:
    """A short key for a text whose language was detected elsewhere (aliasdesk import's
    helper process): 64 bits of its digest, so that a result is only used for the very
    text it was computed on."""
    digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big")
