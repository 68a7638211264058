"""The MIME entities below an outgoing mail's headers: text parts, multiparts, attachments.

Apart from ``compose`` because it is a different job: ``compose`` decides what goes into
a mail and refuses unsafe input; this module only encodes what it is handed as 7-bit
MIME text, which any relay carries unchanged. The one value here that may come from an
inbound mail, an attachment's name, is flattened by ``compose`` first. The line limits
are defined here and shared with the header writer in ``compose``.
"""

from __future__ import annotations

import re
import secrets
from binascii import b2a_base64, b2a_qp
from urllib.parse import quote

CRLF = "\r\n"
FOLD_AT = 78  # RFC 5322 §2.1.1: lines SHOULD stay within 78 characters …
LINE_LIMIT = 998  # … and MUST stay within 998.

_BLANK_STAND_IN = {b" ": b"\xfe", b"\t": b"\xfd"}


def _lf(text: str) -> str:
    """Every line end (CRLF, CR or LF) as LF, so each can be written as CRLF afterwards."""
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


def _quoted_printable(text: str) -> str:
    """UTF-8 quoted-printable with CRLF line ends and lines of at most 76 characters.

    ``b2a_qp`` encodes a lone "." line, but it escapes a space or tab at a line end only
    after it has measured the line, which can make the line 78 long; and it leaves
    "From " alone, which an mbox file would turn into ">From ". So those characters are
    swapped first for bytes that never occur in UTF-8 (0xFD-0xFF), which the encoder
    must escape and counts at their full width, and the escapes are renamed afterwards.
    "From " is escaped wherever it occurs, so no soft line break can start a line with it.
    """
    data = _lf(text).encode("utf-8")
    swaps: list[tuple[bytes, bytes]] = []
    if b"From " in data:
        data = data.replace(b"From ", b"\xffrom ")
        swaps.append((b"=FF", b"=46"))
    if b" \n" in data or b"\t\n" in data or data.endswith((b" ", b"\t")):
        data = line_end_blanks_marked(data)
        swaps += [(b"=FE", b"=20"), (b"=FD", b"=09")]
    encoded = b2a_qp(data, istext=True)
    for stand_in, escape in swaps:
        encoded = encoded.replace(stand_in, escape)
    return encoded.replace(b"\n", b"\r\n").decode("ascii")


def line_end_blanks_marked(data: bytes) -> bytes:
    """The space or tab that ends a line (or the text) swapped for its stand-in.

    Every plain-text notification has one: the signature separator "-- ". Two
    ``bytes.replace`` calls do it; a search for a blank followed by a line end tried
    every space of the text, and took longer than encoding it (50 against 36 µs for a
    5 KB text).
    """
    data = data.replace(b" \n", b"\xfe\n").replace(b"\t\n", b"\xfd\n")
    if data.endswith((b" ", b"\t")):
        data = data[:-1] + _BLANK_STAND_IN[data[-1:]]
    return data


_RAW_TEXT = re.compile(r"<(script|style)\b.*?(?:</\1|\Z)", re.IGNORECASE | re.DOTALL)
"""Elements whose text is read as it is, character references included (HTML §13.1.2.1);
one left open runs to the end."""


def ascii_html(html: str) -> str | None:
    """``html`` with every character beyond ASCII written as a character reference
    ("&#252;"), which any HTML reader shows as the character; None when one stands where
    references are not read (a style sheet or script). As ASCII, the part goes 7bit, its
    lines as long as the markup's: quoted-printable escaped every "=" of every style
    attribute and broke lines at 76, about half again as many lines for every relay to read.
    """
    if any(not block.group().isascii() for block in _RAW_TEXT.finditer(html)):
        return None
    return html.encode("ascii", "xmlcharrefreplace").decode("ascii")


def text_part(body: str, subtype: str) -> str:
    """A text part, 7-bit: plain ASCII stays readable, anything else quoted-printable.
    HTML is made ASCII first wherever it can be (``ascii_html``).

    7-bit transfer encodings mean delivery never depends on the server offering
    8BITMIME (RFC 6152) and the bytes survive any relay. 7bit also needs every line
    within 900 characters (RFC 5321 §4.5.3.1.6 allows 998 octets) and no NUL (RFC 2045
    §2.7); only CR and LF end a line on the wire.
    """
    seven_bit = body
    if subtype == "html" and not body.isascii():
        seven_bit = ascii_html(body) or body
    if seven_bit.isascii() and "\x00" not in seven_bit:
        lines = _lf(seven_bit).split("\n")
        if max(map(len, lines)) <= 900:
            return (
                f'Content-Type: text/{subtype}; charset="us-ascii"\r\n'
                f"Content-Transfer-Encoding: 7bit\r\n\r\n{CRLF.join(lines)}"
            )
    return (
        f'Content-Type: text/{subtype}; charset="utf-8"\r\n'
        f"Content-Transfer-Encoding: quoted-printable\r\n\r\n{_quoted_printable(body)}"
    )


def multipart(subtype: str, parts: list[str], parameters: str = "") -> str:
    """A multipart entity with a random boundary that none of its parts contains;
    ``parameters`` are more of its Content-Type's (``type="text/html"`` for related).

    "=_" cannot occur in quoted-printable or base64 text; a 7-bit part is checked.
    """
    boundary = f"=_{secrets.token_hex(12)}"
    while any(boundary in part for part in parts):
        boundary = f"=_{secrets.token_hex(12)}"
    inner = f"\r\n--{boundary}\r\n".join(parts)
    more = f"; {parameters}" if parameters else ""
    return (
        f'Content-Type: multipart/{subtype}; boundary="{boundary}"{more}\r\n\r\n'
        f"--{boundary}\r\n{inner}\r\n--{boundary}--\r\n"
    )


def _disposition(name: str) -> str:
    """``Content-Disposition: attachment`` with the name, RFC 2231 encoded if not ASCII.

    A name too long for one line is split into RFC 2231 continuations, by characters.
    """
    if name.isascii():
        escaped = name.replace("\\", "\\\\").replace('"', '\\"')
        parameter = f'filename="{escaped}"'
    else:
        parameter = f"filename*=utf-8''{quote(name, safe='')}"
    if len(parameter) <= FOLD_AT - len("Content-Disposition: attachment; "):
        return f"Content-Disposition: attachment; {parameter}\r\n"
    if len(parameter) < LINE_LIMIT:
        return f"Content-Disposition: attachment;\r\n {parameter}\r\n"
    pieces = [""]
    for char in name:
        encoded = quote(char, safe="")
        if len(pieces[-1]) + len(encoded) > 60:
            pieces.append("")
        pieces[-1] += encoded
    pieces[0] = f"utf-8''{pieces[0]}"  # the charset goes with the first section only
    sections = [f"filename*{n}*={piece}" for n, piece in enumerate(pieces)]
    return "Content-Disposition: attachment;\r\n " + ";\r\n ".join(sections) + CRLF


def attachment_part(name: str, content_type: str, data: bytes) -> str:
    """A base64 attachment; ``name`` is one line and ``content_type`` valid, lower case."""
    encoded = b2a_base64(data, newline=False).decode("ascii")
    lines = "".join([encoded[i : i + 76] + CRLF for i in range(0, len(encoded), 76)])
    return (
        f"Content-Type: {content_type}\r\n"
        f"Content-Transfer-Encoding: base64\r\n{_disposition(name)}\r\n{lines}"
    )


def inline_part(content_id: str, name: str, content_type: str, data: bytes) -> str:
    """A base64 image the HTML part shows as ``cid:`` (RFC 2392), shown in place rather
    than listed as an attachment; the caller made ``content_id`` and ``name`` safe."""
    encoded = b2a_base64(data, newline=False).decode("ascii")
    lines = "".join([encoded[i : i + 76] + CRLF for i in range(0, len(encoded), 76)])
    return (
        f"Content-Type: {content_type}\r\n"
        f"Content-Transfer-Encoding: base64\r\n"
        f"Content-ID: <{content_id}>\r\n"
        f'Content-Disposition: inline; filename="{name}"\r\n\r\n{lines}'
    )
