"""Build the bytes of one outgoing mail: headers, text and HTML parts, attachments.

Everything that goes into a header may have come from an inbound mail (subjects, display
names, message ids), so nothing here trusts its input as structure: line breaks are
flattened before any header is set, recipients must be one plain address each, and the
caller cannot override the headers that decide where a mail goes or how it threads.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from email import policy
from email.charset import QP, Charset
from email.encoders import encode_base64
from email.generator import BytesGenerator
from email.header import Header
from email.message import Message
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime, formataddr

MAX_REFERENCES = 20
"""RFC 5322 §3.6.4 lets References grow without bound; long threads are trimmed to this."""

_LINE_BREAKS = re.compile(r"[\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]+")
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")
_ADDRESS = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$"
)
_MSG_ID = re.compile(r"^<[^<>\s@]+@[^<>\s@]+>$")
_TOKEN_CHARS = re.compile(r"[^A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]")
_HEADER_NAME = re.compile(r"^[!-9;-~]+$")  # RFC 5322 ftext: printable ASCII except ':'
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

# CRLF line ends for SMTP DATA; 7-bit bodies (quoted-printable/base64) so delivery never
# depends on the server offering 8BITMIME (RFC 6152) and the bytes survive any relay.
# The compat32 machinery is used on purpose: it builds a mail several times faster than
# EmailMessage with policy.default, and every header value here is validated beforehand.
_POLICY = policy.compat32.clone(linesep="\r\n", max_line_length=78)
_UTF8_QP = Charset("utf-8")
_UTF8_QP.body_encoding = QP

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
    """
    return " ".join(_CONTROL.sub("", _LINE_BREAKS.sub(" ", value)).split())


def check_address(value: str, field: str) -> str:
    """Return ``value`` as one bare address, or raise: never a list, a name or a group."""
    address = value.strip()
    if not _ADDRESS.match(address) or ".." in address or address.startswith("."):
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
    is dropped (the tag in the subject still threads the reply).
    """
    if value is None:
        return None
    candidate = one_line(value)
    if candidate and not candidate.startswith("<"):
        candidate = f"<{candidate}>"
    return candidate if _MSG_ID.match(candidate) else None


def bounded_references(references: Sequence[str], in_reply_to: str | None) -> list[str]:
    """The References list: valid ids, no repeats, the parent last, at most MAX_REFERENCES.

    Trimming keeps the thread's root (first id) and the most recent ids, as RFC 5322
    suggests clients rely on the first and the last entries.
    """
    ids: list[str] = []
    for raw in [*references, in_reply_to]:
        msg_id = normalise_message_id(raw)
        if msg_id is not None and msg_id not in ids:
            ids.append(msg_id)
    parent = normalise_message_id(in_reply_to)
    if parent is not None:
        ids.remove(parent)
        ids.append(parent)
    if len(ids) > MAX_REFERENCES:
        ids = [ids[0], *ids[-(MAX_REFERENCES - 1) :]]
    return ids


def _set_headers(message: Message, extra_headers: Mapping[str, str]) -> None:
    for name, value in extra_headers.items():
        if not _HEADER_NAME.match(name):
            raise ComposeError("extra_headers", f"invalid header name: {name!r}")
        if name.lower() in _RESERVED:
            raise ComposeError("extra_headers", f"{name} cannot be set as an extra header")
        message[name] = _header_text(one_line(value))  # type: ignore[assignment]  # a Header is accepted


def _header_text(value: str) -> str | Header:
    """ASCII as it is; anything else as RFC 2047 encoded words."""
    return value if value.isascii() else Header(value, "utf-8")


def _text_part(body: str, subtype: str) -> MIMEText:
    """A text part, 7-bit: plain ASCII stays readable, anything else quoted-printable."""
    # RFC 5321 §4.5.3.1.6: no line over 998 octets; long ones go quoted-printable.
    if body.isascii() and all(len(line) <= 900 for line in body.splitlines()):
        return MIMEText(body, subtype, "us-ascii")
    return MIMEText(body, subtype, _UTF8_QP)  # type: ignore[arg-type]  # a Charset works


def _attachment_parts(attachments: Sequence[tuple[str, str, bytes]]) -> list[Message]:
    parts: list[Message] = []
    for filename, content_type, data in attachments:
        # The name is only a label for the recipient's client: no directories, no breaks.
        name = one_line(filename).replace("/", "_").replace("\\", "_") or "attachment"
        if not _CONTENT_TYPE.match(content_type.strip()):
            content_type = "application/octet-stream"
        maintype, subtype = content_type.strip().lower().split("/", 1)
        part = MIMEBase(maintype, subtype)
        part.set_payload(data)
        encode_base64(part)
        # RFC 2231 parameter encoding for names that are not plain ASCII.
        label: str | tuple[str, str, str] = name if name.isascii() else ("utf-8", "", name)
        part.add_header("Content-Disposition", "attachment", filename=label)
        parts.append(part)
    return parts


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
) -> bytes:
    """The complete mail as bytes with CRLF line ends, ready for SMTP DATA.

    Structure: text/plain, or multipart/alternative (text then HTML, so clients that
    pick the last part they understand show the HTML), wrapped in multipart/mixed when
    there are attachments.
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
    body: Message = _text_part(text, "plain")
    if html is not None:
        alternative = MIMEMultipart("alternative")
        alternative.attach(body)
        alternative.attach(_text_part(html, "html"))
        body = alternative
    if attachments:
        mixed = MIMEMultipart("mixed")
        mixed.attach(body)
        for part in _attachment_parts(attachments):
            mixed.attach(part)
        body = mixed
    for part in body.walk():
        if part is not body:
            del part["MIME-Version"]  # top level only (RFC 2045 §4)
    headers = Message()
    headers["From"] = formataddr((one_line(from_name), sender), charset="utf-8")
    headers["To"] = ", ".join(recipients)
    if reply_to is not None:
        headers["Reply-To"] = check_address(reply_to, "reply_to")
    headers["Subject"] = _header_text(one_line(subject))  # type: ignore[assignment]
    headers["Date"] = format_datetime(date or datetime.now(UTC))
    headers["Message-ID"] = own_id
    parent = normalise_message_id(in_reply_to)
    if parent is not None:
        headers["In-Reply-To"] = parent
    thread = bounded_references(references, in_reply_to)
    if thread:
        headers["References"] = " ".join(thread)
    headers["Auto-Submitted"] = auto_submitted
    # Exchange/Outlook's own switch for out-of-office and other automatic answers.
    headers["X-Auto-Response-Suppress"] = "All"
    _set_headers(headers, extra_headers or {})
    # Our headers first, then the MIME ones the parts made, as clients expect.
    mime_headers = list(body.items())
    for name in list(body.keys()):
        del body[name]
    for name, value in [*headers.items(), *mime_headers]:
        body[name] = value
    if body["MIME-Version"] is None:
        body["MIME-Version"] = "1.0"
    out = io.BytesIO()
    BytesGenerator(out, policy=_POLICY, mangle_from_=False).flatten(body)
    return out.getvalue()
