"""Reading a delivery report: which addresses it is about, what happened to each, and which
mail it reports on.

Two shapes are read. The standard one is a multipart/report with a message/delivery-status
part (RFC 3464 §2, RFC 6522): one block of fields per recipient with Final-Recipient,
Action, Status (RFC 3463 codes) and Diagnostic-Code. Many mail systems still write plain
text instead (qmail, Exim, Gmail, Yahoo, ...): the failed address on a line of its own, the
remote server's answer under it, and a copy of the original mail below a separator line.
Both are read without raising; what cannot be read is simply missing from the result.

Nothing here is trusted: a report is its sender's claim, and anyone can write one. Whether
it names a mail aliasdesk really sent, to that address, is for the caller to check.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from aliasdesk.mail.addresses import parse_message_ids
from aliasdesk.mail.model import ParsedMail

__all__ = ["ACTIONS", "DeliveryReport", "RecipientStatus", "read_delivery_report"]

ACTIONS = ("failed", "delayed", "delivered", "relayed", "expanded")
"""The Action values of RFC 3464 §2.3.3."""

MAX_RECIPIENTS = 50
MAX_SCAN = 60_000
"""Characters of text looked at: reports are short, hostile mail may not be."""
DIAGNOSTIC_LIMIT = 500
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")

_STATUS = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])")
_SMTP_REPLY = re.compile(r"(?<!\d)[245]\d\d[ -]")
# RFC 5321 §4.5.3.1 sizes bound each part, so a hostile run of characters costs linear time.
_LOCAL_CHAR = r"[^\s<>()\[\]\\,;:@\"']"
_ADDRESS = (
    rf"(?<!{_LOCAL_CHAR}){_LOCAL_CHAR}{{1,64}}@[A-Za-z0-9][A-Za-z0-9.-]{{0,252}}\.[A-Za-z]{{2,63}}"
    r"(?![A-Za-z0-9-])"
)
# A line that starts with the failed address: "  someone@x", "<someone@x>:" (qmail),
# "* someone@x", "someone@x on <date>" (Exchange), "someone@x Invalid Address" (Zoho).
_ADDRESS_LINE = re.compile(rf"^[ \t]*(?:[*-][ \t]*)?[\"'<]?({_ADDRESS})[\"'>]?(?::|[ \t]|$)", re.M)
# The failed address inside a sentence: "error delivering your mail to <someone@x>".
_ADDRESS_SENTENCE = re.compile(
    rf"(?:deliver\w*|sent|message|mail)\s+(?:your\s+)?(?:mail\s+|message\s+)?to\s+"
    rf"[\"'<]?({_ADDRESS})",
    re.I,
)
_ADDRESS_ANYWHERE = re.compile(_ADDRESS)
# Where plain-text bounces start the copy of the original mail (qmail, Exim, Gmail, Yahoo).
_DASHED_WORDS = ("original", "copy", "below this line", "returned", "headers", "message follows")
_SEPARATOR_PHRASES = (
    "original message follows",
    "below this line is a copy",
    "message headers follow",
)
# Within one line only ([ \t], not \s): a run of blank lines must not cost quadratic time.
_MESSAGE_ID_LINE = re.compile(r"^[ \t]*message-id[ \t]*:[ \t]*(<[^<>\s]+>)", re.I | re.M)
_SUBJECT_LINE = re.compile(r"^[ \t]*subject[ \t]*:[ \t]*(.*)$", re.I | re.M)
_PERMANENT = re.compile(
    r"permanent|given up|gave up|failed permanently|could not be delivered|"
    r"couldn't be delivered|undeliverable|user unknown|does not exist|no such user",
    re.I,
)
_DELAY = re.compile(
    r"delayed|will (be )?retr|still (be )?trying|not yet been delivered|temporar", re.I
)


@dataclass(frozen=True, slots=True)
class RecipientStatus:
    """What the report says about one recipient (RFC 3464 §2.3).

    ``recipient`` is the Final-Recipient; ``original`` the Original-Recipient when the
    report gives one (an alias the reporting server expanded), both lower-cased.
    """

    recipient: str
    action: str
    status: str = ""
    diagnostic: str = ""
    original: str = ""

    @property
    def addresses(self) -> frozenset[str]:
        return frozenset(a for a in (self.recipient, self.original) if a)

    @property
    def summary(self) -> str:
        """One line for a ticket event or a delivery's error column."""
        parts = [self.action, self.status, self.diagnostic]
        return " ".join(p for p in parts if p)[:DIAGNOSTIC_LIMIT]


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    """Everything a report claims, unchecked."""

    recipients: tuple[RecipientStatus, ...]
    original_message_ids: tuple[str, ...]
    subjects: tuple[str, ...]
    shape: str
    """``delivery-status`` (RFC 3464) or ``text`` (read from the words of the report)."""

    def about(self, address: str) -> RecipientStatus | None:
        """What the report says about ``address`` (lower-case), if it names it."""
        for status in self.recipients:
            if address in status.addresses:
                return status
        return None


def read_delivery_report(mail: ParsedMail) -> DeliveryReport:
    """Read the report in ``mail``; never raises. Empty fields mean "not found"."""
    text = mail.text[:MAX_SCAN].replace("\r", "")
    explanation, returned = _split_at_copy(text)
    recipients = _standard_recipients(mail.extra.get("report-text", ""))
    shape = "delivery-status"
    if not recipients:
        recipients = _text_recipients(mail, explanation)
        shape = "text"
    returned_headers = "\n".join([returned, *_attached_headers(mail)])
    return DeliveryReport(
        recipients=tuple(recipients[:MAX_RECIPIENTS]),
        original_message_ids=_original_ids(mail, returned_headers),
        subjects=(mail.subject, *_SUBJECT_LINE.findall(returned_headers)[:5]),
        shape=shape,
    )


def _split_at_copy(text: str) -> tuple[str, str]:
    """The report's own words, and the copy of the original mail below them (if any)."""
    start = 0
    for line in text.split("\n"):
        if _is_separator(line[:200].strip().lower()):
            return text[:start], text[start:]
        start += len(line) + 1
    return text, text


def _is_separator(line: str) -> bool:
    """ "------ This is a copy of the message" (Exim), "--- Below this line is a copy of the
    message." (qmail), "----- Original message -----" (Gmail), "Message headers follow."
    (DragonFly): read as plain words, not a regex, so no line costs more than its length."""
    if line.startswith("--") and any(word in line for word in _DASHED_WORDS):
        return True
    return any(phrase in line for phrase in _SEPARATOR_PHRASES)


def _attached_headers(mail: ParsedMail) -> list[str]:
    """The header blocks of returned mail kept as attachments (message/rfc822 or
    text/rfc822-headers, RFC 6522 §3)."""
    blocks = []
    for item in mail.attachments:
        if item.data and item.content_type in ("message/rfc822", "text/rfc822-headers"):
            head = item.data[:MAX_SCAN].replace(b"\r\n", b"\n").split(b"\n\n", 1)[0]
            blocks.append(head.decode("utf-8", "replace"))
    return blocks


def _original_ids(mail: ParsedMail, returned_headers: str) -> tuple[str, ...]:
    """Message-IDs of the mail the report returns: from the parts carrying it, else from
    Message-ID lines in the copy. The report's own Message-ID is never one of them."""
    found = list(parse_message_ids(mail.extra.get("embedded-message-ids", "")))
    found += _MESSAGE_ID_LINE.findall(returned_headers)
    return tuple(m for m in dict.fromkeys(found) if m != mail.message_id)[:MAX_RECIPIENTS]


def _standard_recipients(report_text: str) -> list[RecipientStatus]:
    """One status per recipient block of message/delivery-status (RFC 3464 §2.3)."""
    found = []
    for block in re.split(r"\n[ \t]*\n", report_text[:MAX_SCAN].replace("\r\n", "\n")):
        fields = _fields(block)
        final = _address_field(fields.get("final-recipient", ""))
        original = _address_field(fields.get("original-recipient", ""))
        if not (final or original):
            continue
        status = _status_code(fields.get("status", ""))
        action = fields.get("action", "").split(" ", 1)[0].lower()
        found.append(
            RecipientStatus(
                recipient=final or original,
                action=action if action in ACTIONS else _action_from(status),
                status=status,
                diagnostic=_one_line(fields.get("diagnostic-code", "").partition(";")[2]),
                original=original,
            )
        )
    return found


def _fields(block: str) -> dict[str, str]:
    """``Name: value`` lines of one block, folded lines joined (RFC 5322 §2.2.3)."""
    fields: dict[str, str] = {}
    for line in re.sub(r"\n[ \t]+", " ", block.strip("\n")).split("\n"):
        name, colon, value = line.partition(":")
        if colon and name.strip():
            fields.setdefault(name.strip().lower(), value.strip())
    return fields


def _address_field(value: str) -> str:
    """``rfc822; someone@example.com`` -> ``someone@example.com`` (RFC 3464 §2.3.2)."""
    _, semicolon, address = value.partition(";")
    match = _ADDRESS_ANYWHERE.search(address if semicolon else value)
    return match.group(0).lower() if match else ""


def _text_recipients(mail: ParsedMail, explanation: str) -> list[RecipientStatus]:
    """Failed addresses of a plain-text bounce, each with the answer written beside it:
    addresses opening a line of the report's own words, X-Failed-Recipients (Exim, Gmail),
    then addresses named in a sentence ("error delivering your mail to <someone@x>")."""
    lines = explanation.split("\n")
    positions: dict[str, int] = {}
    for number, line in enumerate(lines):
        match = _ADDRESS_LINE.match(line)
        if match is not None:
            positions.setdefault(match.group(1).lower(), number)
    for value in mail.header_values("x-failed-recipients"):
        for address in _ADDRESS_ANYWHERE.findall(value[:MAX_SCAN]):
            positions.setdefault(address.lower(), -1)
    for address in _ADDRESS_SENTENCE.findall(explanation):
        positions.setdefault(address.lower(), -1)
    report = _TextReport(lines, explanation)
    return [report.status_of(a, n) for a, n in list(positions.items())[:MAX_RECIPIENTS]]


class _TextReport:
    """The words of a plain-text report, read once for all the addresses it names."""

    def __init__(self, lines: list[str], explanation: str) -> None:
        self.lines = lines
        self.first_answer = next(
            (line.strip() for line in lines if _SMTP_REPLY.search(line) or _STATUS.search(line)),
            "",
        )
        self.permanent = bool(_PERMANENT.search(explanation))
        self.delayed = bool(_DELAY.search(explanation))

    def status_of(self, address: str, number: int) -> RecipientStatus:
        """The answer written beside an address (the rest of its line and the lines under
        it, up to a blank line), else the first line with an SMTP reply or status code."""
        block = []
        if number >= 0:
            block.append(self.lines[number].strip().split(None, 1)[1:])
        for line in self.lines[number + 1 : number + 8] if number >= 0 else []:
            if not line.strip() or _ADDRESS_LINE.match(line):
                break
            block.append([line.strip()])
        diagnostic = " ".join(part for parts in block for part in parts)
        if not (_STATUS.search(diagnostic) or _SMTP_REPLY.search(diagnostic)):
            diagnostic = self.first_answer or diagnostic
        status = _status_code(diagnostic)
        return RecipientStatus(
            recipient=address,
            action=_action_from(status, permanent=self.permanent, delayed=self.delayed),
            status=status,
            diagnostic=_one_line(diagnostic),
        )


def _status_code(text: str) -> str:
    match = _STATUS.search(text)
    return ".".join(match.groups()) if match else ""


def _action_from(status: str, *, permanent: bool = False, delayed: bool = False) -> str:
    """A report without a readable Action: its status class decides (RFC 3463 §3.1),
    else its words; a non-delivery report that says neither is a failure."""
    if status.startswith("2"):
        return "delivered"
    if status.startswith("5") or permanent:
        return "failed"
    if status.startswith("4") or delayed:
        return "delayed"
    return "failed"


def _one_line(text: str) -> str:
    """A remote server's words on one line, without control characters: they are shown
    to members and admins (an escape sequence must not reach a terminal)."""
    return " ".join(_CONTROL.sub(" ", text).split())[:DIAGNOSTIC_LIMIT]
