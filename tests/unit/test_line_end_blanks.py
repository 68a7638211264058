"""The blanks that end lines, marked for quoted-printable by two replacements: the same
bytes as the search they replace (a blank followed by a line end or the end)."""

from __future__ import annotations

import re

from hypothesis import example, given
from hypothesis import strategies as st

from aliasdesk.mail.mime_parts import line_end_blanks_marked

_BLANK_BEFORE_END = re.compile(rb"[ \t](?=\n|\Z)")
_STAND_IN = {b" ": b"\xfe", b"\t": b"\xfd"}


def _searched(data: bytes) -> bytes:
    return _BLANK_BEFORE_END.sub(lambda blank: _STAND_IN[blank[0]], data)


_PIECES = st.sampled_from([b" ", b"\t", b"\n", b"a", b"-- ", b"\xc3\xbc", b"\r"])


@given(st.lists(_PIECES, max_size=60).map(b"".join))
@example(b"-- \nName")
@example(b"two  \nand tab\t\n")
@example(b" \t\n\t \n")
@example(b"ends in a space ")
@example(b"ends in a tab\t")
@example(b" ")
@example(b"")
def test_marked_as_the_search_marks(data: bytes) -> None:
    assert line_end_blanks_marked(data) == _searched(data)


def test_only_the_last_blank_of_a_line_is_marked() -> None:
    assert line_end_blanks_marked(b"a  \nb\t\t\nc \t") == b"a \xfe\nb\t\xfd\nc \xfd"
