"""Long encoded bodies kept out of the stdlib parser's line-by-line reading.

``email.feedparser`` reads a mail one line at a time, in Python. A 100 KB attachment is
about 1,800 lines of base64: in the bench's mailbox a mail with one took 3.2 ms to become
a tree against 0.24 ms for one without. After each part the parser also looks for the
part's last line end with a pattern anchored at the end (``NLCRE_eol``), which ``re``
scans for from the start of the part: half a millisecond more for that attachment.

``set_aside`` swaps each long stretch of base64-alphabet text that follows a blank line
for one short marker line, so the parser reads a short mail; ``LongBodies.put_back``
then gives each marker's place its text. Why the tree is the stdlib's own:

- After a blank line the parser is in a body: the message's, a part's, a preamble or an
  epilogue (a blank line always ends a header block). There the only line that means
  anything is an enclosing multipart's boundary, which starts with "--". The stretch's
  lines hold letters, digits, "+", "/" and "=" only, so none of them starts with "-";
  the marker starts with a NUL.
- The parser joins a body's lines as they were, so the marker's place in the joined text
  is the stretch's. The stretch ends with a line end, and its marker line ends with that
  same line end, so the line end the parser takes off before a boundary is the same one.
- Parts of type ``message/*`` and ``multipart/digest`` are parsed as mail of their own,
  headers first, so a mail that names either anywhere is left whole, as is one with a NUL
  (markers must be the only NULs) or one in which a marker did not come back exactly once.

``tests/unit/test_long_bodies.py`` compares both parses on the corpus, the bench's mailbox
and stretches placed where a careless swap would change the tree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.message import Message

SHORTEST_MAIL = 8 * 1024
"""Mails up to this size are parsed whole: they hold no stretch worth setting aside."""

_STRETCH = re.compile(rb"(?<=\n)\r?\n((?:[A-Za-z0-9+/=]++\r?\n){32,})")
"""A blank line, then at least 32 lines of base64 alphabet, each ended by LF or CRLF.

Line by line, not as one run of alphabet and line ends: inside a long run of line ends
every one is a blank line the search starts from, and a run a little short of the length
asked for was then read again from each of them (2,000 line ends and a "-", repeated:
3.6 ms a block, minutes for a mail of the largest size allowed). A line must now hold a
letter, so no two tries read the same line."""

_PARSED_AS_MAIL = (b"message/", b"digest")
"""Named anywhere in the mail without its stretches (which cannot hold them), in any
case: the mail is parsed whole."""


def _marker(index: int) -> str:
    return f"\x00{index}\x00"


@dataclass(frozen=True)
class LongBodies:
    """A mail with its long stretches swapped for markers, and their texts."""

    stub: bytes
    texts: list[str]

    def put_back(self, message: Message) -> bool:
        """Give each marker in ``message`` (parsed from ``stub``) its text; False when a
        marker is not found exactly once where a body's text is kept (then the caller
        parses the whole mail)."""
        found = 0
        for part in message.walk():
            if part.is_multipart():
                for name in ("preamble", "epilogue"):
                    text = getattr(part, name)
                    if text and "\x00" in text:
                        setattr(part, name, self._restored(text))
                        found += text.count("\x00") // 2
            else:
                # The text as parsed: get_payload() would decode a body with 8-bit bytes.
                payload = vars(part).get("_payload")
                if isinstance(payload, str) and "\x00" in payload:
                    part.set_payload(self._restored(payload))
                    found += payload.count("\x00") // 2
        return found == len(self.texts)

    def _restored(self, text: str) -> str:
        pieces = text.split("\x00")
        if len(pieces) == 3 and not pieces[0] and not pieces[2]:
            return self.texts[int(pieces[1])]  # the whole body: no copy of the text
        for odd in range(1, len(pieces), 2):
            pieces[odd] = self.texts[int(pieces[odd])]
        return "".join(pieces)


def set_aside(data: bytes) -> LongBodies | None:
    """``data`` with its long base64 stretches swapped for markers, or None when there is
    nothing to set aside or the mail must be parsed whole."""
    if len(data) <= SHORTEST_MAIL:
        return None
    pieces: list[bytes] = []
    texts: list[str] = []
    view = memoryview(data)
    kept_to = 0
    for found in _STRETCH.finditer(data):
        start, stop = found.span(1)
        line_end = 2 if data[stop - 2 : stop] == b"\r\n" else 1
        pieces += [data[kept_to:start], _marker(len(texts)).encode(), data[stop - line_end : stop]]
        texts.append(str(view[start : stop - line_end], "ascii"))
        kept_to = stop
    if not texts:
        return None
    pieces.append(data[kept_to:])
    stub = b"".join(pieces)
    lowered = stub.lower()
    if any(word in lowered for word in _PARSED_AS_MAIL):
        return None
    if stub.count(b"\x00") != 2 * len(texts):  # a NUL of the mail's own: markers must be alone
        return None
    return LongBodies(stub, texts)
