"""Build the bytes of one outgoing mail: headers, text and HTML parts, attachments.

Everything that goes into a header may have come from an inbound mail (subjects, display
names, message ids), so nothing here trusts its input as structure: line breaks are
flattened before any header is set, recipients must be one plain address each, and the
caller cannot override the headers that decide where a mail goes or how it threads.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage, MIMEPart
from email.utils import format_datetime

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
_POLICY = policy.SMTP.clone(cte_type="7bit")

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


def _set_headers(message: EmailMessage, extra_headers: Mapping[str, str]) -> None:
    for name, value in extra_headers.items():
        if not _HEADER_NAME.match(name):
            raise ComposeError("extra_headers", f"invalid header name: {name!r}")
        if name.lower() in _RESERVED:
            raise ComposeError("extra_headers", f"{name} cannot be set as an extra header")
        message[name] = one_line(value)


def _add_attachments(message: EmailMessage, attachments: Sequence[tuple[str, str, bytes]]) -> None:
    for filename, content_type, data in attachments:
        # The name is only a label for the recipient's client: no directories, no breaks.
        name = one_line(filename).replace("/", "_").replace("\\", "_") or "attachment"
        if not _CONTENT_TYPE.match(content_type.strip()):
            content_type = "application/octet-stream"
        maintype, subtype = content_type.strip().lower().split("/", 1)
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)


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

    message = EmailMessage(policy=_POLICY)
    sender = check_address(from_address, "from_address")
    local, domain = sender.rsplit("@", 1)
    message["From"] = Address(display_name=one_line(from_name), username=local, domain=domain)
    message["To"] = ", ".join(recipients)
    if reply_to is not None:
        message["Reply-To"] = check_address(reply_to, "reply_to")
    message["Subject"] = one_line(subject)
    message["Date"] = format_datetime(date or datetime.now(UTC))
    message["Message-ID"] = own_id
    parent = normalise_message_id(in_reply_to)
    if parent is not None:
        message["In-Reply-To"] = parent
    thread = bounded_references(references, in_reply_to)
    if thread:
        message["References"] = " ".join(thread)
    message["Auto-Submitted"] = auto_submitted
    # Exchange/Outlook's own switch for out-of-office and other automatic answers.
    message["X-Auto-Response-Suppress"] = "All"
    _set_headers(message, extra_headers or {})

    message.set_content(text)
    if html is not None:
        message.add_alternative(html, subtype="html")
    _add_attachments(message, attachments)
    for part in message.iter_parts():
        _drop_inner_mime_version(part)
    return message.as_bytes()


def _drop_inner_mime_version(part: MIMEPart) -> None:
    """MIME-Version belongs on the top level only (RFC 2045 §4); the stdlib repeats it."""
    del part["MIME-Version"]
    if part.is_multipart():
        for child in part.iter_parts():
            _drop_inner_mime_version(child)
