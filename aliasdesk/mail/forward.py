"""Who a forwarded request is really from.

Staff often get a request in their own mailbox and forward it to the right alias. The
ticket then belongs to the person who wrote the original, not to the colleague who passed
it on, so that the acknowledgement and every answer go to the one who asked.

Only forwards that say plainly who wrote the original are recognised; anything vaguer
returns None and the caller keeps the forwarder as the requester:

* an inline block started by "---------- Forwarded message ---------" (Gmail,
  Thunderbird), "Begin forwarded message:" (Apple Mail) or "-----Original Message-----"
  (Outlook; only with a forward prefix such as "Fwd:" or "FW:" in the subject, because
  Outlook writes the same line above the history of a plain reply), followed by a short
  header block with a "From:" line that holds an address;
* exactly one attached message (message/rfc822, RFC 2046 §5.2.1) with a From header.

Pure stdlib, like the rest of ``aliasdesk.mail``; never raises.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import getaddresses

__all__ = ["ForwardedMail", "find_forwarded", "without_forward_prefix"]

_FORWARD_MARKERS = (
    re.compile(
        r"^-{2,}\s*(?:forwarded message|weitergeleitete nachricht|message transf[ée]r[ée]|"
        r"doorgestuurd bericht|messaggio inoltrato|mensaje reenviado)\s*-{2,}$",
        re.IGNORECASE,
    ),
    re.compile(
        r"^(?:begin forwarded message|anfang der weitergeleiteten nachricht):$", re.IGNORECASE
    ),
)
_OUTLOOK_MARKER = re.compile(r"^-{2,}\s*original message\s*-{2,}$", re.IGNORECASE)
_FORWARD_PREFIX = re.compile(r"^\s*(?:fwd?|fw|wg|tr|rv|vs|i)\s*:\s*", re.IGNORECASE)
_REPLY_PREFIX = re.compile(r"^\s*(?:re|aw|sv|antw)\s*:\s*", re.IGNORECASE)
_HEADER_LINE = re.compile(r"^\*?([^\W\d_][\w -]{0,20}):\*?\s*(.*)$")
_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_FROM_NAMES = frozenset({"from", "von", "de", "van", "da", "från", "fra", "od"})
_SUBJECT_NAMES = frozenset({"subject", "betreff", "objet", "onderwerp", "asunto", "oggetto"})
_MAX_HEADER_LINES = 12
_SCAN_LINES = 400
_MAX_TEXT = 100_000


@dataclass(frozen=True, slots=True)
class ForwardedMail:
    """The original inside a forward: its author, what it said, and the forwarder's note."""

    sender: str
    name: str
    subject: str
    text: str
    note: str
    message_id: str | None = None


def without_forward_prefix(subject: str) -> str:
    """'Fwd: FW: Re: Leave' -> 'Leave': the prefixes say how it travelled, not what it is."""
    previous = None
    while previous != subject:
        previous = subject
        subject = _REPLY_PREFIX.sub("", _FORWARD_PREFIX.sub("", subject))
    return subject.strip()


def find_forwarded(text: str, subject: str, raw: bytes | None = None) -> ForwardedMail | None:
    """The forwarded original in a mail, when the mail makes clear who wrote it."""
    try:
        return _attached(text, raw) or _inline(text, subject)
    except Exception:  # a forward we cannot read is simply not treated as one
        return None


def _inline(text: str, subject: str) -> ForwardedMail | None:
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    outlook_allowed = _FORWARD_PREFIX.match(subject or "") is not None
    for index, line in enumerate(lines[:_SCAN_LINES]):
        stripped = _unquote(line).strip()
        is_marker = any(m.match(stripped) for m in _FORWARD_MARKERS) or (
            outlook_allowed and _OUTLOOK_MARKER.match(stripped) is not None
        )
        if is_marker:
            return _read_block(lines, index, subject)
    return None


def _read_block(lines: list[str], marker: int, subject: str) -> ForwardedMail | None:
    headers: dict[str, str] = {}
    index = marker + 1
    while index < len(lines) and not _unquote(lines[index]).strip():
        index += 1
    while index < len(lines) and len(headers) < _MAX_HEADER_LINES:
        match = _HEADER_LINE.match(_unquote(lines[index]).strip())
        if match is None:
            break
        headers.setdefault(match.group(1).strip().lower(), match.group(2).strip())
        index += 1
    from_value = next((v for k, v in headers.items() if k in _FROM_NAMES), "")
    sender, name = _author(from_value)
    if not sender:
        return None
    original_subject = next((v for k, v in headers.items() if k in _SUBJECT_NAMES), "")
    body = "\n".join(_unquote(line) for line in lines[index:]).strip()
    return ForwardedMail(
        sender=sender,
        name=name,
        subject=without_forward_prefix(original_subject or subject),
        text=body[:_MAX_TEXT],
        note="\n".join(lines[:marker]).strip()[:_MAX_TEXT],
    )


def _unquote(line: str) -> str:
    """Some clients quote the forwarded block with '>' (RFC 3676 §4.5); read through it."""
    return re.sub(r"^(?:>\s?)+", "", line)


def _author(value: str) -> tuple[str, str]:
    """'Dave Miller <dave@x>' or 'Dave Miller [mailto:dave@x]' -> ('dave@x', 'Dave Miller')."""
    found = _ADDRESS.findall(value)
    if not found:
        return "", ""
    address = found[-1].lower()
    name = re.split(r"[<\[]", value, maxsplit=1)[0]
    name = name.replace(address, "").strip().strip("\"'*").strip()
    return address, " ".join(name.split())[:255]


def _attached(text: str, raw: bytes | None) -> ForwardedMail | None:
    """Exactly one message/rfc822 part in the mail: the original, with its real headers."""
    if not raw or b"message/rfc822" not in raw.lower():
        return None
    outer = BytesParser(policy=policy.default).parsebytes(raw)
    inner = [p for p in outer.walk() if p.get_content_type() == "message/rfc822"]
    if len(inner) != 1:
        return None
    payload = inner[0].get_payload()
    original = payload[0] if isinstance(payload, list) and payload else None
    if not isinstance(original, Message):
        return None
    pairs = getaddresses([str(v) for v in original.get_all("from", [])])
    name, address = pairs[0] if pairs else ("", "")
    if not _ADDRESS.fullmatch(address or ""):
        return None
    original_text = _plain_text(original)
    # Without a note of its own the mail's text is the original's (see parse.py): no note.
    note = "" if text.strip() == original_text.strip() else text.strip()
    return ForwardedMail(
        sender=address.lower(),
        name=" ".join(name.split())[:255],
        subject=without_forward_prefix(str(original.get("subject", "") or "")),
        text=original_text[:_MAX_TEXT],
        note=note[:_MAX_TEXT],
        message_id=_message_id(original),
    )


def _plain_text(message: Message) -> str:
    if isinstance(message, EmailMessage):
        body = message.get_body(("plain",))
        if body is not None and isinstance(body, EmailMessage):
            content = body.get_content()
            return content.strip() if isinstance(content, str) else ""
    return ""


def _message_id(message: Message) -> str | None:
    value = " ".join(str(message.get("message-id", "") or "").split())
    return value if re.fullmatch(r"<[^<>\s]+@[^<>\s]+>", value) else None
