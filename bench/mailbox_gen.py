"""A seeded, realistic mailbox for the benchmarks: what a department alias really receives.

The mix matters more than the count: a harness fed only tiny plain-text mails would flatter
every contender. So most mails are multipart/alternative with quoted-printable text and HTML,
subjects are RFC 2047 encoded words where the language needs them, a tenth carry a 100 KB
attachment, some go to two departments at once, and a tenth are not new requests at all
(replies to tickets opened earlier in the same mailbox, out-of-office replies, bounces).

Every mail is labelled with how many acknowledgements aliasdesk must send for it, so the
harness knows when a run is complete without trusting the system under test.
"""

from __future__ import annotations

import base64
import quopri
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.header import Header
from email.utils import format_datetime

DOMAIN = "example.com"
# alias -> department key, as in config/routing.yaml.
ALIASES: dict[str, str] = {
    "hr@example.com": "HR",
    "people@example.com": "HR",
    "it@example.com": "IT",
    "helpdesk@example.com": "IT",
    "facilities@example.com": "FAC",
    "finance@example.com": "FIN",
    "invoices@example.com": "FIN",
}
# Subjects avoid the routing file's rule words (payroll, salary, urgent, outage) so that the
# alias alone decides the department and the harness can predict ticket references.
SUBJECTS: dict[str, tuple[str, ...]] = {
    "HR": (
        "Holiday request for May",
        "Urlaubsantrag für die Woche ab dem 6. Mai",
        "Question about parental leave",
        "Demande de congé pour le mois d’août",
        "Address change",
        "Bescheinigung für die Krankenkasse benötigt",
    ),
    "IT": (
        "Laptop will not boot",
        "VPN drops every ten minutes",
        "Drucker im 3. Stock druckt nur Streifen",
        "Need access to the shared drive",
        "Écran externe non détecté",
        "Password reset for the HR portal",
    ),
    "FAC": (
        "Broken chair in room 2.14",
        "Heizung im Besprechungsraum „Nord“ ist aus",
        "Light flickering in the kitchen",
        "Parking badge does not open the gate",
    ),
    "FIN": (
        "Invoice 2024-0815 from Acme",
        "Rechnung Nr. 4711 – Zahlungserinnerung",
        "Expense report for the Lyon trip",
        "Question about my travel reimbursement",
    ),
}
FIRST = (
    "anna",
    "ben",
    "chloé",
    "david",
    "eva",
    "felix",
    "greta",
    "hugo",
    "ines",
    "jonas",
    "katrin",
    "lukas",
    "marie",
    "nils",
    "olga",
    "paul",
    "rita",
    "sven",
    "tara",
    "uwe",
)
LAST = (
    "schmidt",
    "meyer",
    "dubois",
    "rossi",
    "novak",
    "jensen",
    "garcia",
    "kowalski",
    "müller",
    "weber",
    "fischer",
    "lambert",
    "costa",
    "berg",
    "wagner",
)
_SAMPLE_TEXT = (
    "please could you have a look at this when you find the time it started on monday after "
    "the update and since then nothing works as before I already tried restarting and asked "
    "my colleagues but nobody knew what to do the deadline is next week so it would help a "
    "lot if someone could call me or drop by my desk thanks in advance für Ihre Hilfe merci"
)
WORDS = tuple(_SAMPLE_TEXT.split())


@dataclass(frozen=True, slots=True)
class GeneratedMail:
    """One mail of the mailbox and what aliasdesk is expected to do with it."""

    raw: bytes
    kind: str  # request | reply_tag | reply_thread | auto_reply | bounce
    acks: int  # acknowledgements aliasdesk must send for it
    message_id: str
    requester: str


@dataclass
class _Ticket:
    ref: str
    requester: str
    subject: str
    message_id: str


class _Builder:
    """Holds the seeded random source and the tickets opened so far (for replies)."""

    def __init__(self, seed: int, tag: str) -> None:
        self.rng = random.Random(seed)
        self.tag = tag
        self.counters: dict[str, int] = {}
        self.tickets: list[_Ticket] = []
        self.when = datetime(2024, 5, 6, 8, 0, tzinfo=UTC)

    def message_id(self, index: int) -> str:
        return f"<bench-{self.tag}-{index:06d}.{self.rng.getrandbits(32):08x}@mail.{DOMAIN}>"

    def date(self) -> str:
        self.when += timedelta(seconds=self.rng.randint(5, 90))
        return format_datetime(self.when)

    def paragraph(self, words: int) -> str:
        chosen = [self.rng.choice(WORDS) for _ in range(words)]
        lines, line = [], ""
        for word in chosen:
            if len(line) + len(word) > 70:
                lines.append(line)
                line = ""
            line = f"{line} {word}" if line else word
        lines.append(line)
        return "\n".join(lines).capitalize() + "."

    def body(self) -> str:
        name = self.rng.choice(FIRST).capitalize()
        paragraphs = [
            self.paragraph(self.rng.randint(25, 70)) for _ in range(self.rng.randint(1, 4))
        ]
        return "Hello,\n\n" + "\n\n".join(paragraphs) + f"\n\nBest regards,\n{name}\n"


def _encoded(text: str) -> str:
    """RFC 2047 encoded word where the text is not ASCII, as real mail clients do."""
    try:
        text.encode("ascii")
        return text
    except UnicodeEncodeError:
        return Header(text, "utf-8").encode()


_QP_HEADER = "Content-Transfer-Encoding: quoted-printable\n\n"


def _qp(text: str) -> str:
    return quopri.encodestring(text.replace("\n", "\r\n").encode()).decode().replace("\r\n", "\n")


def _html(text: str) -> str:
    paragraphs = "".join(f"<p>{p.replace(chr(10), '<br>')}</p>\n" for p in text.split("\n\n"))
    return (
        '<html><head><meta charset="utf-8"><style>p{font-family:Calibri}</style></head>'
        f"<body>\n{paragraphs}</body></html>\n"
    )


def _attachment(rng: random.Random) -> str:
    payload = rng.randbytes(100 * 1024)
    name = rng.choice(("scan.pdf", "Rechnung.pdf", "screenshot.png", "formular.docx"))
    encoded = base64.encodebytes(payload).decode()
    return (
        "Content-Type: application/octet-stream\n"
        f'Content-Disposition: attachment; filename="{name}"\n'
        "Content-Transfer-Encoding: base64\n\n" + encoded
    )


def _content(b: _Builder, text: str, attach: bool, index: int) -> str:
    """Headers from Content-Type on, and the body: plain, HTML-only or alternative."""
    shape = b.rng.random()
    if shape < 0.3:
        inner = f"Content-Type: text/plain; charset=utf-8\n{_QP_HEADER}{_qp(text)}"
    elif shape < 0.4:
        inner = f"Content-Type: text/html; charset=utf-8\n{_QP_HEADER}{_qp(_html(text))}"
    else:
        alt = f"alt-{b.tag}-{index}"
        inner = (
            f'Content-Type: multipart/alternative; boundary="{alt}"\n\n'
            f"--{alt}\nContent-Type: text/plain; charset=utf-8\n"
            f"Content-Transfer-Encoding: quoted-printable\n\n{_qp(text)}\n"
            f"--{alt}\nContent-Type: text/html; charset=utf-8\n"
            f"Content-Transfer-Encoding: quoted-printable\n\n{_qp(_html(text))}\n--{alt}--\n"
        )
    if not attach:
        return inner
    mixed = f"mixed-{b.tag}-{index}"
    return (
        f'Content-Type: multipart/mixed; boundary="{mixed}"\n\n'
        f"--{mixed}\n{inner}\n--{mixed}\n{_attachment(b.rng)}\n--{mixed}--\n"
    )


def _headers(
    b: _Builder, *, sender: str, name: str, to: str, subject: str, mid: str, extra: str = ""
) -> str:
    return (
        f"Return-Path: <{sender}>\nDelivered-To: servicedesk@{DOMAIN}\n"
        f"From: {_encoded(name)} <{sender}>\nTo: {to}\nSubject: {_encoded(subject)}\n"
        f"Date: {b.date()}\nMessage-ID: {mid}\nMIME-Version: 1.0\n{extra}"
    )


def _request(b: _Builder, index: int) -> GeneratedMail:
    rng = b.rng
    alias = rng.choice(list(ALIASES))
    department = ALIASES[alias]
    first, last = rng.choice(FIRST), rng.choice(LAST)
    # One sender per request: RFC 3834 caps automatic answers per sender and hour, and the
    # benchmark wants to count every acknowledgement.
    sender = f"{first}.{last}.{b.tag}{index}@{DOMAIN}".encode("ascii", "ignore").decode()
    subject = rng.choice(SUBJECTS[department])
    departments = [department]
    to = f"{department.title()} <{alias}>"
    extra = ""
    if rng.random() < 0.05:  # copied to a second department: one linked ticket in each
        other_alias = rng.choice([a for a, d in ALIASES.items() if d != department])
        departments.append(ALIASES[other_alias])
        extra = f"Cc: {other_alias}\n"
    mid = b.message_id(index)
    head = _headers(
        b,
        sender=sender,
        name=f"{first.title()} {last.title()}",
        to=to,
        subject=subject,
        mid=mid,
        extra=extra,
    )
    raw = head + _content(b, b.body(), rng.random() < 0.1, index)
    for key in departments:
        b.counters[key] = b.counters.get(key, 0) + 1
        b.tickets.append(_Ticket(f"{key}-{b.counters[key]}", sender, subject, mid))
    return GeneratedMail(raw.encode(), "request", len(departments), mid, sender)


def _reply(b: _Builder, index: int) -> GeneratedMail:
    """The requester writes again: by the [KEY-N] tag or by In-Reply-To, half each."""
    ticket = b.rng.choice(b.tickets)
    mid = b.message_id(index)
    by_tag = b.rng.random() < 0.5
    subject = f"Re: [{ticket.ref}] {ticket.subject}" if by_tag else f"Re: {ticket.subject}"
    extra = "" if by_tag else f"In-Reply-To: {ticket.message_id}\nReferences: {ticket.message_id}\n"
    to = next(a for a, d in ALIASES.items() if d == ticket.ref.split("-")[0])
    text = "Thanks, one more detail: it happens again this morning.\n\n> " + "\n> ".join(
        b.paragraph(30).splitlines()
    )
    head = _headers(
        b, sender=ticket.requester, name="Requester", to=to, subject=subject, mid=mid, extra=extra
    )
    raw = head + _content(b, text, False, index)
    return GeneratedMail(
        raw.encode(), "reply_tag" if by_tag else "reply_thread", 0, mid, ticket.requester
    )


def _auto_reply(b: _Builder, index: int) -> GeneratedMail:
    mid = b.message_id(index)
    sender = f"ooo{index}@partner.example.net"
    head = _headers(
        b,
        sender=sender,
        name="Out of Office",
        to=b.rng.choice(list(ALIASES)),
        subject="Automatische Antwort: Abwesenheit",
        mid=mid,
        extra="Auto-Submitted: auto-replied\nX-Auto-Response-Suppress: All\n",
    )
    raw = head + _content(b, "Ich bin bis zum 14. Mai nicht im Büro.\n", False, index)
    return GeneratedMail(raw.encode(), "auto_reply", 0, mid, sender)


def _bounce(b: _Builder, index: int) -> GeneratedMail:
    """A delivery status notification (RFC 3464) about a mail aliasdesk never sent."""
    mid = b.message_id(index)
    boundary = f"dsn-{b.tag}-{index}"
    head = (
        f"Return-Path: <>\nFrom: Mail Delivery System <MAILER-DAEMON@mx.partner.example.net>\n"
        f"To: it@{DOMAIN}\nSubject: Undelivered Mail Returned to Sender\nDate: {b.date()}\n"
        f"Message-ID: {mid}\nMIME-Version: 1.0\nAuto-Submitted: auto-replied\n"
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"\n\n'
    )
    raw = (
        head + f"--{boundary}\nContent-Type: text/plain\n\nThe mail could not be delivered.\n"
        f"--{boundary}\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx\n\n"
        f"Final-Recipient: rfc822; gone{index}@partner.example.net\nAction: failed\n"
        f"Status: 5.1.1\n\n--{boundary}--\n"
    )
    return GeneratedMail(raw.encode(), "bounce", 0, mid, "MAILER-DAEMON")


def generate(count: int, *, seed: int = 20240506, tag: str = "m") -> list[GeneratedMail]:
    """``count`` mails: 90 % new requests, 5 % replies to earlier tickets, 5 % machine mail.

    ``tag`` goes into senders and Message-IDs so that two mailboxes in one run never share a
    sender (the per-sender answer cap) or a Message-ID (deduplication).
    """
    b = _Builder(seed, tag)
    mails: list[GeneratedMail] = []
    for index in range(count):
        roll = b.rng.random()
        if roll < 0.05 and b.tickets:
            mails.append(_reply(b, index))
        elif roll < 0.075:
            mails.append(_auto_reply(b, index))
        elif roll < 0.10:
            mails.append(_bounce(b, index))
        else:
            mails.append(_request(b, index))
    return [_crlf(m) for m in mails]


def _crlf(mail: GeneratedMail) -> GeneratedMail:
    """IMAP APPEND wants CRLF line ends (RFC 3501 §6.3.11 literal is a message)."""
    raw = mail.raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    return GeneratedMail(raw, mail.kind, mail.acks, mail.message_id, mail.requester)


def expected_acks(mails: Sequence[GeneratedMail]) -> int:
    return sum(m.acks for m in mails)


def summary(mails: Sequence[GeneratedMail]) -> dict[str, int]:
    """Counts by kind, plus attachments and total size, for the report."""
    out: dict[str, int] = {}
    for mail in mails:
        out[mail.kind] = out.get(mail.kind, 0) + 1
    out["with_attachment"] = sum(b"Content-Disposition: attachment" in m.raw for m in mails)
    out["bytes"] = sum(len(m.raw) for m in mails)
    out["acks_expected"] = expected_acks(mails)
    return out
