"""Header-level decoding: charsets, encoded-words, address lists and message ids.

Everything here works on the raw header strings the compat32 parser keeps, because the
modern policy is four to five times slower and some of its header objects raise on mere
access (FIELD-NOTES). Each function returns plain text plus short defect strings instead of
raising, so ``parse_mail`` can promise never to raise.

Decoded values never contain line breaks: a decoded subject or display name that smuggled a
CR/LF through an encoded-word must not be able to add header lines to mail we send later
(CONTRACT §5).
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re
from email.utils import getaddresses
from functools import lru_cache

from aliasdesk.mail.model import Address

__all__ = [
    "decode_bytes",
    "decode_header_value",
    "domain_of",
    "is_noreply",
    "lookup_charset",
    "normalise_address",
    "parse_address_list",
    "parse_message_id",
    "parse_message_ids",
    "single_line",
]

# Labels seen in real mail that Python does not know, mapped to the codec that reads them.
# gb2312 is widened to gb18030 because senders routinely put GBK characters under that label.
_CHARSET_ALIASES: dict[str, str] = {
    "iso-gb2312": "gb18030",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "unicode-1-1-utf-7": "utf-7",
    "x-unicode-1-1-utf-7": "utf-7",
    "iso-8859-8-i": "iso-8859-8",
    "x-sjis": "shift_jis",
    "ks_c_5601-1987": "cp949",
    "windows-874": "cp874",
    "x-mac-roman": "mac_roman",
    "ansi_x3.4-1968": "ascii",
    "us-ascii": "ascii",
}

# Line breaks and other characters str.splitlines() treats as line ends, plus the C0
# controls that have no business in a header value.
_BREAKS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f\x85\u2028\u2029]+")
_SPACES = re.compile(r"[ \t]{2,}")

# RFC 2047 §2 encoded-word; the charset may carry an RFC 2231 §5 "*language" suffix.
# Spaces inside the encoded text are invalid but common (and folding can put them there);
# they are tolerated rather than leaving the word undecoded.
_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([QqBb])\?([^?]*)\?=")
_QP_HEX = re.compile(rb"=([0-9A-Fa-f]{2})")
_TOKEN = re.compile(r"ENCWORD(\d+)X")
_MSGID = re.compile(r"<([^<>]*)>")
_WSP_ONLY = re.compile(r"[ \t\r\n]*")


def single_line(value: str) -> str:
    """Collapse folding whitespace and replace every line break or control with a space.

    Most values (every header name, most header values) hold neither: a printable string
    has no control, tab or line break, so without two spaces in a row neither pattern
    would change it, and the two substitutions (2.4 µs a value) are skipped."""
    if not value:
        return ""
    if value.isprintable() and "  " not in value:
        return value.strip()
    return _SPACES.sub(" ", _BREAKS.sub(" ", value)).strip()


@lru_cache(maxsize=256)
def lookup_charset(label: str | None) -> str | None:
    """Return a Python codec name for a MIME charset label, or None if it is unusable.

    Only real text encodings qualify: labels such as "base64" or "zlib" name codecs too,
    and decoding with them would be a way to expand or mangle data.
    """
    if not label:
        return None
    name = label.strip().strip("\"'").lower()
    if name.startswith("charset="):  # seen in the wild: charset="charset=us-ascii"
        name = name[len("charset=") :].strip("\"'")
    name = _CHARSET_ALIASES.get(name, name)
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError, TypeError):
        return None
    if not getattr(info, "_is_text_encoding", True):
        return None
    return info.name


def decode_bytes(data: bytes, charset: str | None, defects: list[str]) -> str:
    """Decode body or header bytes, falling back instead of failing.

    A known charset decodes with replacement characters for bad bytes. An unknown or
    missing one is tried as UTF-8 and then Latin-1 (which always succeeds); an unknown
    label is recorded as ``unknown-charset:<label>``.
    """
    codec = lookup_charset(charset)
    if charset and codec is None:
        label = single_line(charset).lower()[:40]
        tag = f"unknown-charset:{label}"
        if tag not in defects:
            defects.append(tag)
    if codec is not None and codec != "ascii":
        try:
            return data.decode(codec, errors="replace")
        except (LookupError, ValueError, TypeError):  # pragma: no cover - odd codecs
            pass
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        if codec == "ascii" or codec is None:
            # Undeclared 8-bit text is far more often Windows-1252 than anything else.
            return data.decode("cp1252", errors="replace")
        return data.decode("latin-1")


def _decode_word(encoding: str, text: str) -> bytes:
    """Bytes of one encoded-word's payload (RFC 2047 §4.1 B, §4.2 Q)."""
    if encoding in "bB":
        raw = "".join(text.split()).encode("ascii", "ignore").rstrip(b"=")
        if len(raw) % 4 == 1:  # one stray character cannot encode anything: drop it
            raw = raw[:-1]
        raw += b"=" * (-len(raw) % 4)
        try:
            return base64.b64decode(raw)
        except (binascii.Error, ValueError):
            return b""
    raw = text.replace("_", " ").encode("ascii", "ignore")
    return _QP_HEX.sub(lambda m: bytes([int(m.group(1), 16)]), raw)


def _from_8bit(value: str, defects: list[str], name: str, fallback: str | None = None) -> str:
    """Undo the surrogateescape the bytes parser applies to raw 8-bit header bytes.

    RFC 6532 allows UTF-8 here, so that is tried first; otherwise the charset the body
    declares (``fallback``) is the best guess for what the sender's software used.
    """
    raw = value.encode("ascii", "surrogateescape")
    tag = f"header-8bit:{name}"
    if tag not in defects:
        defects.append(tag)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    codec = lookup_charset(fallback)
    if codec is not None and codec not in ("ascii", "utf-8"):
        return raw.decode(codec, errors="replace")
    return raw.decode("cp1252", errors="replace")


def decode_header_value(
    value: str, defects: list[str], name: str = "", fallback: str | None = None
) -> str:
    """Decode RFC 2047 encoded-words (and raw 8-bit bytes) into one line of text.

    Whitespace between adjacent encoded-words is dropped (RFC 2047 §6.2), and adjacent words
    in the same charset are joined as bytes before decoding, because senders split multi-byte
    characters across words.
    """
    if not value:
        return ""
    try:
        value.encode("ascii")
    except UnicodeEncodeError:
        if any("\udc80" <= ch <= "\udcff" for ch in value):
            value = _from_8bit(value, defects, name, fallback)
    if "=?" not in value:
        return single_line(value)
    out: list[str] = []
    pending: bytearray = bytearray()
    pending_charset: str | None = None
    pos = 0

    def flush() -> None:
        nonlocal pending, pending_charset
        if pending_charset is not None:
            out.append(decode_bytes(bytes(pending), pending_charset, defects))
        pending = bytearray()
        pending_charset = None

    for match in _ENCODED_WORD.finditer(value):
        gap = value[pos : match.start()]
        if gap and not (pending_charset is not None and _WSP_ONLY.fullmatch(gap)):
            flush()
            out.append(gap)
        charset = match.group(1).split("*", 1)[0]
        if pending_charset is not None and charset.lower() != pending_charset.lower():
            flush()
        pending_charset = charset
        pending += _decode_word(match.group(2), match.group(3))
        pos = match.end()
    flush()
    out.append(value[pos:])
    return single_line("".join(out))


def normalise_address(s: str) -> str:
    """Canonical form used for comparisons: stripped, without angle brackets, lower-cased."""
    return s.strip().strip("<>").strip().lower()


def domain_of(address: str) -> str:
    """The part after the last "@", lower-cased; "" when there is none."""
    _, at, domain = normalise_address(address).rpartition("@")
    return domain if at else ""


# Local parts that announce "nobody reads replies here" (CONTRACT §5: such senders get no
# automatic answer). Compared after removing separators, so no.reply / no_reply match too.
_NOREPLY_LOCALS = frozenset(
    {
        "noreply",
        "donotreply",
        "dontreply",
        "noanswer",
        "noresponse",
        "mailerdaemon",
        "postmaster",
        "bounce",
        "bounces",
        "autoreply",
        "autoresponder",
        "notreply",
    }
)
_SEPARATORS = re.compile(r"[-_.+]")


def is_noreply(address: str) -> bool:
    """True for addresses whose local part says replies go nowhere (noreply@, mailer-daemon@).

    Only the local part counts (before any "+tag"), so "noreply-alerts@x" and
    "no.reply@x" match while "reply@x" or "norepl@x" do not.
    """
    addr = normalise_address(address)
    local = addr.rpartition("@")[0] if "@" in addr else addr
    if not local:
        return False
    compact = _SEPARATORS.sub("", local.split("+", 1)[0])
    if compact in _NOREPLY_LOCALS:
        return True
    return compact.startswith(("noreply", "donotreply", "bounce")) or compact.endswith(
        ("noreply", "donotreply")
    )


_DOT_ATOM = re.compile(r"^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")


def _clean_address(addr: str) -> str:
    """Lower-cased bare address; a needlessly quoted local part is written plainly.

    ``"jo"@x`` names the same mailbox as ``jo@x`` (RFC 5322 §3.4.1), and only the plain
    spelling can be compared with other addresses and used to answer the sender.
    """
    address = "".join(addr.split()).strip("<>").lower()
    local, at, domain = address.rpartition("@")
    if not at:
        return address
    if len(local) > 2 and local[0] == local[-1] == '"' and _DOT_ATOM.match(local[1:-1]):
        local = local[1:-1]
    return f"{local}@{domain}"


def parse_address_list(
    value: str, defects: list[str], name: str = "", fallback: str | None = None
) -> tuple[Address, ...]:
    """Split an address header into Address values with decoded display names.

    The raw value is split before display names are decoded: an encoded-word may decode to
    a comma or angle bracket ("Doe, John") that must not create a second recipient.
    """
    if not value:
        return ()
    if not value.isascii() and any("\udc80" <= ch <= "\udcff" for ch in value):
        value = _from_8bit(value, defects, name, fallback)
    flat = single_line(value)
    # Encoded-words are swapped for inert tokens while the list is split, because an
    # unquoted word may contain a comma ("=?iso-8859-1?Q?B=FCrling,=20A?=", RFC 2047 §5).
    words: list[str] = []

    def stash(match: re.Match[str]) -> str:
        words.append(match.group(0))
        return f"ENCWORD{len(words) - 1}X"

    flat = _ENCODED_WORD.sub(stash, flat)
    try:
        pairs = getaddresses([flat])
    except Exception:  # the stdlib raises IndexError and others on odd input
        tag = f"header-unreadable:{name}"
        if tag not in defects:
            defects.append(tag)
        return ()
    result: list[Address] = []
    for display, addr in pairs:
        address = _clean_address(addr)
        if not address:
            continue
        if words:
            display = _TOKEN.sub(lambda m: words[int(m.group(1))], display)
        result.append(Address(address, decode_header_value(display, defects, name)))
    return tuple(result)


def parse_message_id(value: str | None) -> str | None:
    """The first "<...>" id as written, whitespace removed; a bare id gets brackets added."""
    if not value:
        return None
    match = _MSGID.search(value)
    if match is not None:
        inner = "".join(match.group(1).split())
        return f"<{inner}>" if inner else None
    token = "".join(single_line(value).split())
    if token and "@" in token and len(token) <= 998:
        return f"<{token}>"
    return None


def parse_message_ids(value: str | None) -> tuple[str, ...]:
    """Every "<...>" id in In-Reply-To / References, in order, without duplicates."""
    if not value:
        return ()
    seen: dict[str, None] = {}
    for match in _MSGID.finditer(value):
        inner = "".join(match.group(1).split())
        if inner:
            seen.setdefault(f"<{inner}>", None)
    return tuple(seen)
