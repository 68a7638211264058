"""Telling a multipart's boundary lines apart without compiling a pattern per boundary.

The stdlib's parser (``email.feedparser``) compiles a regular expression for every
multipart it meets: ``(?P<sep>--BOUNDARY)(?P<end>--)?(?P<ws>[ \\t]*)(?P<linesep>...)?$``.
Boundaries are random by design, so the ``re`` module's cache never holds one twice, and
the compile took about a tenth of all parsing (the bench's mailbox: 722 compiles per
1,000 mails, about 85 µs each).

``install`` gives the feedparser module a ``re`` of its own whose ``compile`` answers
exactly that pattern with :class:`BoundaryLine`, while a mail of up to ``SMALL_MAIL``
bytes is parsed (``parsing``, which ``mime_tree.message_from_bytes`` enters): a
``startswith`` on the separator, then one pattern compiled once for what may follow it.
The match it returns has the groups the parser reads (``end`` and ``linesep``), found by
the same expression. Any other pattern, a larger mail, a parse outside ``parsing``, or a
boundary pattern this module does not recognise as the escaped separator (a later Python
writing it differently) goes to ``re.compile`` as before.
``tests/unit/test_boundary_lines.py`` parses the corpus and the bench's mailbox both ways
and compares the trees.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from email import feedparser
from typing import Any

_PREFIX = "(?P<sep>"
_SUFFIX = r")(?P<end>--)?(?P<ws>[ \t]*)(?P<linesep>\r\n|\r|\n)?$"
_AFTER_SEPARATOR = re.compile(_SUFFIX[1:])
_ESCAPED = re.compile(r"\\(.)", re.DOTALL)


class BoundaryLine:
    """What the parser's compiled boundary pattern was used for: ``match(line)``."""

    __slots__ = ("separator",)

    def __init__(self, separator: str) -> None:
        self.separator = separator

    def match(self, line: str) -> re.Match[str] | None:
        if not line.startswith(self.separator):
            return None
        return _AFTER_SEPARATOR.match(line, len(self.separator))


SMALL_MAIL = 64 * 1024
"""Mails up to this size get the matcher; larger ones the compiled pattern.

The matcher saves the compile (about 85 µs) but tests each line below the boundary in
Python, where the compiled pattern tests it in C: past a few thousand lines the compile is
the cheaper of the two (one multipart of 4 KB to 512 KB, 5 medians of 60 to 300 mails:
even between 128 and 256 KB; a 5 MB attachment parsed 17 % slower with the matcher). A
line inside nested multiparts is tested once per level, so the limit is set below that."""

_parsing = threading.local()


@contextmanager
def parsing(size: int) -> Iterator[None]:
    """Around one mail's parse in this thread: whether its boundaries get the matcher (a
    parse within a parse, should one ever happen, leaves the outer one's choice as it was)."""
    outer = getattr(_parsing, "small", False)
    _parsing.small = size <= SMALL_MAIL
    try:
        yield
    finally:
        _parsing.small = outer


def compile_pattern(pattern: Any, flags: int = 0) -> Any:
    """``re.compile``, except for the boundary pattern the feedparser builds for a small
    mail."""
    if (
        getattr(_parsing, "small", False)
        and flags == 0
        and isinstance(pattern, str)
        and pattern.startswith(_PREFIX)
        and pattern.endswith(_SUFFIX)
    ):
        escaped = pattern[len(_PREFIX) : -len(_SUFFIX)]
        separator = _ESCAPED.sub(r"\1", escaped)
        if re.escape(separator) == escaped:  # exactly the shape ``re.escape`` writes
            return BoundaryLine(separator)
    return re.compile(pattern, flags)


class _FeedparserRe:
    """The ``re`` the feedparser module sees: the real one, but for ``compile``."""

    compile = staticmethod(compile_pattern)

    def __getattr__(self, name: str) -> Any:
        return getattr(re, name)


def install() -> None:
    """Give ``email.feedparser`` the boundary-aware ``re`` (once; safe to call again)."""
    names = vars(feedparser)  # its typing stub does not list the ``re`` it imports
    if not isinstance(names["re"], _FeedparserRe):
        names["re"] = _FeedparserRe()


def uninstall() -> None:
    """Give ``email.feedparser`` the real ``re`` back (the tests compare both)."""
    vars(feedparser)["re"] = re
