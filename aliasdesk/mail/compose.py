"""Build the bytes of one outgoing mail: headers, text and HTML parts, attachments.

Everything that goes into a header may have come from an inbound mail (subjects, display
names, message ids), so nothing here trusts its input as structure: line breaks are
flattened before any header is set, recipients must be one plain address each, and the
caller cannot override the headers that decide where a mail goes or how it threads.

The mail is written directly as text rather than through ``email.generator``: the
generator's header folding costs about a millisecond per mail, and every notification
goes through here. Writing it ourselves is safe because each value is validated or
encoded before it is placed, and the shapes are few (text, text + HTML, attachments).
The headers are written here; the parts below them are encoded by ``mime_parts``.
"""

from __future__ import annotations

import re
from binascii import b2a_base64
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from email.utils import format_datetime, formataddr

from aliasdesk.mail.filenames import safe_filename
from aliasdesk.mail.mime_parts import (
    CRLF,
    FOLD_AT,
    LINE_LIMIT,
    attachment_part,
    inline_part,
    multipart,
    text_part,
)

MAX_REFERENCES = 20
"""RFC 5322 §3.6.4 lets References grow without bound; long threads are trimmed to this."""

_MAX_ID = 980  # the longest id that still fits "In-Reply-To: <id>" on one line
_MAX_ADDRESS = 254  # RFC 5321 §4.5.3.1.3: a path is at most 256 octets with its brackets

_LINE_BREAKS = re.compile(r"[\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]+")
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")
_ADDRESS = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$"
)
_MSG_ID = re.compile(r"^<[^<>\s@]+@[^<>\s@]+>$")
_TOKEN_CHARS = re.compile(r"[^A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]")
_HEADER_NAME = re.compile(r"^[!-9;-~]+$")  # RFC 5322 ftext: printable ASCII except ':'
_CONTENT_ID = re.compile(r"^[A-Za-z0-9.-]{1,64}@[A-Za-z0-9.-]{1,64}$")
_INLINE_NAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_INLINE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif"})
_CONTENT_TYPE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*$")

# Headers the caller may not set through extra_headers: they decide recipients, identity,
# threading or MIME structure and are set here from validated arguments only.
_RESERVED = frozenset(
    name.lower()
    for name in (
        "From", "To", "Cc", "Bcc", "Reply-To", "Sender", "Subject", "Message-ID", "Date",
        "In-Reply-To", "References", "Auto-Submitted", "X-Auto-Response-Suppress",
        "MIME-Version", "Content-Type", "Content-Transfer-Encoding", "Content-Disposition",
        "Return-Path", "Resent-To", "Resent-Cc", "Resent-Bcc", "Resent-From",
    )
)  # fmt: skip

_AUTO_SUBMITTED_VALUES = frozenset({"auto-replied", "auto-generated", "auto-notified"})


class ComposeError(ValueError):
    """An argument cannot be put into a mail safely (bad address, reserved header …)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def one_line(value: str) -> str:
    """Flatten any line break to a space and drop control characters.

    Covers every separator ``str.splitlines`` knows, not only CR and LF, because some
    mail software treats those as line ends too; a header can then never gain a line.
    Most values (message ids, plain subjects) need no change; they are returned at once,
    as every separator and control character is also one that ``isprintable`` rejects.
    """
    if value.isprintable() and "  " not in value and value[:1] != " " and value[-1:] != " ":
        return value
    return " ".join(_CONTROL.sub("", _LINE_BREAKS.sub(" ", value)).split())


def check_address(value: str, field: str) -> str:
    """Return ``value`` as one bare address, or raise: never a list, a name or a group.

    Longer than an SMTP path may be, it could not be delivered and would not fit a line.
    """
    address = value.strip()
    if (
        not _ADDRESS.match(address)
        or ".." in address
        or address.startswith(".")
        or len(address) > _MAX_ADDRESS
    ):
        raise ComposeError(field, f"not a single plain address: {value!r}")
    return address


def make_message_id(token: str, domain: str) -> str:
    """``<token@domain>``, deterministic so a resend of one delivery keeps its Message-ID.

    Characters outside RFC 5322 dot-atom text are replaced by "-" rather than dropped, so
    different tokens of the same length stay different in most cases.
    """
    cleaned = _TOKEN_CHARS.sub("-", token.strip()).strip(".") or "-"
    host = domain.strip().lower()
    if not re.match(r"^[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?$", host):
        raise ComposeError("domain", f"not a domain name: {domain!r}")
    return f"<{cleaned}@{host}>"


def normalise_message_id(value: str | None) -> str | None:
    """A message id in angle brackets, or None if ``value`` is not one.

    Ids come from inbound mail; a malformed one must not break a notification, so it
    is dropped (the tag in the subject still threads the reply). So is one too long for
    any header line to hold.
    """
    if value is None:
        return None
    candidate = one_line(value)
    if candidate and not candidate.startswith("<"):
        candidate = f"<{candidate}>"
    return candidate if len(candidate) <= _MAX_ID and _MSG_ID.match(candidate) else None


def bounded_references(references: Sequence[str], in_reply_to: str | None) -> list[str]:
    """The References list: valid ids, no repeats, the parent last, at most MAX_REFERENCES.

    Trimming keeps the thread's root (first id) and the most recent ids, as RFC 5322
    suggests clients rely on the first and the last entries.
    """
    valid = (normalise_message_id(raw) for raw in [*references, in_reply_to])
    ids = list(dict.fromkeys(msg_id for msg_id in valid if msg_id is not None))
    parent = normalise_message_id(in_reply_to)
    if parent is not None:
        ids.remove(parent)
        ids.append(parent)
    if len(ids) > MAX_REFERENCES:
        ids = [ids[0], *ids[-(MAX_REFERENCES - 1) :]]
    return ids


# --- headers ---------------------------------------------------------------------------


def _fold(name: str, value: str) -> str | None:
    """``name: value`` and CRLF, folded before spaces to keep lines within 78 characters.

    A word longer than that keeps its own line. None when a line would still exceed 998
    characters: the caller then encodes the value or refuses it.
    """
    line = f"{name}: {value}"
    if len(line) <= FOLD_AT:
        return line + CRLF
    first, *words = value.split(" ")
    lines: list[str] = []
    current = f"{name}: {first}"
    for word in words:
        if not word or len(current) + 1 + len(word) <= FOLD_AT:
            current = f"{current} {word}"
        else:
            lines.append(current)
            current = f" {word}"
    lines.append(current)
    if any(len(part) > LINE_LIMIT for part in lines):
        return None
    return CRLF.join(lines) + CRLF


def _structured(name: str, value: str) -> str:
    """A header whose value must not be encoded (addresses, message ids)."""
    folded = _fold(name, value)
    if folded is None:
        raise ComposeError(name, "too long for a header line")
    return folded


def _encoded_words(text: str, first_room: int) -> list[str]:
    """``text`` as RFC 2047 "B" encoded words of at most 75 characters each.

    A word never splits a UTF-8 sequence (RFC 2047 §5 wants whole characters), and the
    first word is sized to fit what is left of the header's first line.
    """
    data = text.encode("utf-8")
    room = min(first_room, 75) if first_room >= 24 else 75
    words: list[str] = []
    start = 0
    while start < len(data):
        end = start + (room - 12) // 4 * 3  # 12: "=?utf-8?b?" and "?="
        while end < len(data) and data[end] & 0xC0 == 0x80:  # a continuation byte
            end -= 1
        words.append(f"=?utf-8?b?{b2a_base64(data[start:end], newline=False).decode()}?=")
        start, room = end, 75
    return words


def _unstructured(name: str, value: str) -> str:
    """Plain ASCII when it folds; otherwise encoded words, which fold anywhere."""
    if value.isascii():
        folded = _fold(name, value)
        if folded is not None:
            return folded
    return _structured(name, " ".join(_encoded_words(value, FOLD_AT - len(name) - 2)))


def _from_header(name: str, address: str) -> str:
    """``From: name <address>``, the name quoted as needed or as one encoded word.

    One word even past RFC 2047's 75 characters, as ``formataddr`` writes it: readers
    disagree about the space between adjacent encoded words in a display name (Python's
    parser keeps it, RFC 2047 drops it), so a name is split only if no line can hold it.
    """
    if name.isascii():
        folded = _fold("From", formataddr((name, address)))
        if folded is not None:
            return folded
    whole = f"=?utf-8?b?{b2a_base64(name.encode('utf-8'), newline=False).decode()}?="
    folded = _fold("From", f"{whole} <{address}>")
    if folded is not None:
        return folded
    words = _encoded_words(name, FOLD_AT - len("From: "))
    return _structured("From", " ".join([*words, f"<{address}>"]))


def _extra_headers(extra_headers: Mapping[str, str]) -> list[str]:
    lines: list[str] = []
    for name, value in extra_headers.items():
        if not _HEADER_NAME.match(name):
            raise ComposeError("extra_headers", f"invalid header name: {name!r}")
        if name.lower() in _RESERVED:
            raise ComposeError("extra_headers", f"{name} cannot be set as an extra header")
        lines.append(_unstructured(name, one_line(value)))
    return lines


# --- body ------------------------------------------------------------------------------


def _attachment(filename: str, content_type: str, data: bytes) -> str:
    """An attachment part; its name and type are made safe here, the rest is encoding."""
    # The name is only a label for the recipient's client, and may have been stored by a
    # version that cleaned names less: cleaned again (no directories, breaks or devices).
    name = safe_filename(one_line(filename), content_type.strip().lower())
    if not _CONTENT_TYPE.match(content_type.strip()):
        content_type = "application/octet-stream"
    return attachment_part(name, content_type.strip().lower(), data)


def _inline(content_id: str, name: str, content_type: str, data: bytes) -> str:
    """An image shown in the HTML by ``cid:``. Only our own code makes these (charts), so
    anything unexpected is a programming error, refused rather than repaired."""
    if not _CONTENT_ID.match(content_id):
        raise ComposeError("inline_images", f"not a content id: {content_id!r}")
    if not _INLINE_NAME.match(name) or content_type not in _INLINE_TYPES:
        raise ComposeError("inline_images", f"not an image name and type: {name!r}")
    return inline_part(content_id, name, content_type, data)


def _body(
    text: str,
    html: str | None,
    attachments: Sequence[tuple[str, str, bytes]],
    inline_images: Sequence[tuple[str, str, str, bytes]],
) -> str:
    """text/plain, or multipart/alternative (text then HTML, so clients that pick the
    last part they understand show the HTML); the HTML in multipart/related with its
    inline images (RFC 2387), so the text part stays whole for clients that show only it;
    all in multipart/mixed when there are attachments."""
    body = text_part(text, "plain")
    if html is not None:
        shown = text_part(html, "html")
        if inline_images:
            images = [_inline(*image) for image in inline_images]
            shown = multipart("related", [shown, *images], 'type="text/html"')
        body = multipart("alternative", [body, shown])
    if attachments:
        body = multipart("mixed", [body, *(_attachment(*item) for item in attachments)])
    return body


def compose(
    *,
    from_address: str,
    from_name: str,
    to: Sequence[str],
    subject: str,
    text: str,
    html: str | None,
    message_id: str,
    in_reply_to: str | None,
    references: Sequence[str],
    auto_submitted: str,
    reply_to: str | None = None,
    extra_headers: Mapping[str, str] | None = None,
    attachments: Sequence[tuple[str, str, bytes]] = (),
    date: datetime | None = None,
    inline_images: Sequence[tuple[str, str, str, bytes]] = (),
) -> bytes:
    """The complete mail as bytes with CRLF line ends, ready for SMTP DATA.

    Structure: see ``_body``; ``inline_images`` are (content id, file name, type, bytes)
    shown by the HTML part. MIME-Version appears at the top level only (RFC 2045 §4).
    """
    if auto_submitted not in _AUTO_SUBMITTED_VALUES:
        # RFC 3834 §5: every mail aliasdesk sends is automatic; "no" would invite loops.
        raise ComposeError("auto_submitted", f"must be one of {sorted(_AUTO_SUBMITTED_VALUES)}")
    recipients = [check_address(address, "to") for address in to]
    if not recipients:
        raise ComposeError("to", "at least one recipient is needed")
    own_id = normalise_message_id(message_id)
    if own_id is None:
        raise ComposeError("message_id", f"not a message id: {message_id!r}")
    sender = check_address(from_address, "from_address")

    body = _body(text, html, attachments, inline_images)
    head = [_from_header(one_line(from_name), sender), _structured("To", ", ".join(recipients))]
    if reply_to is not None:
        head.append(_structured("Reply-To", check_address(reply_to, "reply_to")))
    head.append(_unstructured("Subject", one_line(subject)))
    head.append(f"Date: {format_datetime(date or datetime.now(UTC))}\r\n")
    head.append(_structured("Message-ID", own_id))
    parent = normalise_message_id(in_reply_to)
    if parent is not None:
        head.append(_structured("In-Reply-To", parent))
    thread = bounded_references(references, in_reply_to)
    if thread:
        head.append(_structured("References", " ".join(thread)))
    head.append(f"Auto-Submitted: {auto_submitted}\r\n")
    # Exchange/Outlook's own switch for out-of-office and other automatic answers.
    head.append("X-Auto-Response-Suppress: All\r\n")
    head.extend(_extra_headers(extra_headers or {}))
    head.append("MIME-Version: 1.0\r\n")
    mail = "".join(head) + body
    if not mail.endswith(CRLF):
        mail += CRLF  # a single part whose text has no final line break
    return mail.encode("ascii")
