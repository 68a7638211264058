"""Hostile and broken mail through the whole intake, on SQLite and PostgreSQL.

Whatever arrives, the gateway must end with exactly one inbound entry per fetched mail,
its raw bytes kept, and either a ticket or a stated reason: never an exception, never a
mail lost, and nothing decoded from a mail turning into structure of mail we send.
"""

from __future__ import annotations

import base64
import email
import email.policy
import random
from collections.abc import Iterator
from email.message import EmailMessage

import pytest
from sqlalchemy import func, select

from aliasdesk.db.models import InboundMail, StoredAttachment, Ticket
from aliasdesk.inbound.context import OUTCOMES
from aliasdesk.runtime import Runtime
from aliasdesk.services.intake import IntakeResult
from tests.support.harness import build_mail, drain_jobs, feed, runtime_for
from tests.support.smtp_script import ScriptedSmtpServer

CRLF = "\r\n"


def _feed_one(runtime: Runtime, raw: bytes) -> IntakeResult:
    """Feed one mail; check the promises that hold for any input whatsoever."""
    with runtime.db.reader() as session:
        before = int(session.scalar(select(func.count()).select_from(InboundMail)) or 0)
    [result] = feed(runtime, raw)
    assert result.outcome in OUTCOMES, result
    assert result.reason.strip(), result
    assert result.reason != "internal-error", result
    with runtime.db.reader() as session:
        count = int(session.scalar(select(func.count()).select_from(InboundMail)) or 0)
        row = session.get(InboundMail, result.inbound_id)
        assert row is not None
        assert count == before + 1, "every fetched mail has exactly one inbound entry"
        assert row.raw == raw and row.size == len(raw)
        assert row.error is None, row.error
    return result


def _multipart(parts: list[str], *, boundary: str = "BOUNDARY", top: str = "") -> bytes:
    head = [
        "From: Dave Miller <dave@example.com>",
        "To: hr@example.com",
        "Subject: Files",
        f"Message-ID: <files-{random.Random(len(parts)).randrange(10**9)}@example.com>",
        "MIME-Version: 1.0",
        f'Content-Type: multipart/mixed; boundary="{boundary}"',
        *([top] if top else []),
    ]
    body = "".join(f"--{boundary}{CRLF}{part}{CRLF}" for part in parts)
    return (CRLF.join(head) + CRLF + CRLF + body + f"--{boundary}--{CRLF}").encode()


def _attachment(name: str, data: bytes, ctype: str = "application/octet-stream") -> str:
    encoded = base64.encodebytes(data).decode().replace("\n", CRLF)
    return (
        f'Content-Type: {ctype}; name="{name}"{CRLF}'
        f'Content-Disposition: attachment; filename="{name}"{CRLF}'
        f"Content-Transfer-Encoding: base64{CRLF}{CRLF}{encoded}"
    )


TEXT_PART = f"Content-Type: text/plain; charset=utf-8{CRLF}{CRLF}Please see the attached files."


def _sent(smtp: ScriptedSmtpServer) -> list[tuple[list[str], EmailMessage]]:
    found = []
    for item in smtp.handler.received:
        message = email.message_from_bytes(item.data, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        found.append((item.rcpt_tos, message))
    return found


def test_zero_byte_mail_is_quarantined_as_empty(runtime: Runtime) -> None:
    result = _feed_one(runtime, b"")
    assert result.outcome == "quarantined" and "empty" in result.reason
    # The same nothing again is the same message (same bytes, no Message-ID).
    again = _feed_one(runtime, b"")
    assert again.outcome == "duplicate"


def test_whitespace_only_mail_is_quarantined_as_empty(runtime: Runtime) -> None:
    assert "empty" in _feed_one(runtime, b"\r\n\r\n \t\r\n").reason


def test_mail_cut_off_in_the_header_block_is_kept(runtime: Runtime) -> None:
    raw = build_mail(message_id="<cut@example.com>")
    cut = raw[: raw.index(b"Content-Type") + 8]  # stops mid header name, no body
    result = _feed_one(runtime, cut)
    assert result.outcome in {"new_ticket", "quarantined"}
    with runtime.db.reader() as session:
        row = session.get(InboundMail, result.inbound_id)
        assert row is not None and "truncated" in (row.trace or "")


def test_multipart_cut_off_mid_attachment_still_opens_a_ticket(runtime: Runtime) -> None:
    raw = _multipart([TEXT_PART, _attachment("report.pdf", bytes(range(256)) * 40)])
    result = _feed_one(runtime, raw[: len(raw) * 2 // 3])
    assert result.outcome == "new_ticket", result
    with runtime.db.reader() as session:
        ticket = session.scalar(select(Ticket))
        assert ticket is not None and "attached files" in ticket.messages[0].text


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_binary_garbage_is_quarantined_with_a_reason(runtime: Runtime, seed: int) -> None:
    garbage = random.Random(seed).randbytes(8192)
    result = _feed_one(runtime, garbage)
    assert result.outcome == "quarantined", result
    assert _feed_one(runtime, garbage).outcome == "duplicate"


def test_200_kb_header_still_opens_a_ticket(runtime: Runtime, smtp: ScriptedSmtpServer) -> None:
    long_subject = "Laptop " + " ".join(f"w{i}" for i in range(40_000))  # ~250 KB
    raw = build_mail(subject=long_subject, headers={"X-Huge": "x" * 200_000})
    result = _feed_one(runtime, raw)
    assert result.outcome == "new_ticket", result
    drain_jobs(runtime)
    [(rcpt, ack)] = [(r, m) for r, m in _sent(smtp) if m["Auto-Submitted"] == "auto-replied"]
    assert rcpt == ["dave@example.com"]
    assert str(ack["Subject"]).strip().startswith("[HR-1] Laptop")


@pytest.fixture
def small_limit_runtime(database_url: str, smtp: ScriptedSmtpServer) -> Iterator[Runtime]:
    rt = runtime_for(database_url, smtp.port, max_attachment_bytes=1024 * 1024)
    yield rt
    rt.close()


def test_30_mb_mail_keeps_the_mail_and_records_the_dropped_attachment(
    small_limit_runtime: Runtime,
) -> None:
    rng = random.Random(30)
    big, more = rng.randbytes(10 * 1024 * 1024), rng.randbytes(11 * 1024 * 1024)
    raw = _multipart(
        [
            TEXT_PART,
            _attachment("small.txt", b"fits under the limit\r\n", "text/plain"),
            _attachment("big.bin", big),
            _attachment("more.bin", more),
        ]
    )
    assert len(raw) > 28 * 1024 * 1024
    result = _feed_one(small_limit_runtime, raw)
    assert result.outcome == "new_ticket", result
    with small_limit_runtime.db.reader() as session:
        stored = {a.filename: a for a in session.scalars(select(StoredAttachment))}
    assert set(stored) == {"small.txt", "big.bin", "more.bin"}
    assert stored["big.bin"].data is None and stored["big.bin"].size == len(big)
    assert stored["more.bin"].data is None and stored["more.bin"].size == len(more)
    assert stored["small.txt"].data == b"fits under the limit\r\n"


def test_missing_from_is_quarantined(runtime: Runtime) -> None:
    raw = build_mail().replace(b"From: Dave Miller <dave@example.com>\r\n", b"")
    result = _feed_one(runtime, raw)
    assert result.outcome == "quarantined" and "sender" in result.reason


@pytest.mark.parametrize(
    "sender", ["Dave Miller", "<>", "Dave <@example.com>", "undisclosed-recipients:;"]
)
def test_from_without_an_address_is_quarantined(runtime: Runtime, sender: str) -> None:
    result = _feed_one(runtime, build_mail(sender=sender))
    assert result.outcome == "quarantined" and "sender" in result.reason, result


def test_bounce_from_an_empty_sender_is_ignored_not_quarantined(runtime: Runtime) -> None:
    """Machine mail is recognised before the missing sender matters (CONTRACT §5)."""
    raw = build_mail(
        sender="MAILER-DAEMON",
        subject="Undelivered Mail Returned to Sender",
        body="Final-Recipient: rfc822; gone@example.net\nAction: failed\nStatus: 5.1.1",
        headers={"Return-Path": "<>"},
    )
    result = _feed_one(runtime, raw)
    assert result.outcome == "ignored", result


def test_message_nested_ten_levels_deep(runtime: Runtime) -> None:
    inner = build_mail(subject="innermost", body="the original request").decode()
    for level in range(10):
        inner = (
            f"From: Forwarder {level} <fwd{level}@example.com>{CRLF}"
            f"To: hr@example.com{CRLF}Subject: Fwd level {level}{CRLF}"
            f"Message-ID: <nest-{level}@example.com>{CRLF}MIME-Version: 1.0{CRLF}"
            f'Content-Type: multipart/mixed; boundary="b{level}"{CRLF}{CRLF}'
            f"--b{level}{CRLF}Content-Type: message/rfc822{CRLF}{CRLF}{inner}{CRLF}"
            f"--b{level}--{CRLF}"
        )
    result = _feed_one(runtime, inner.encode())
    assert result.outcome == "new_ticket", result
    with runtime.db.reader() as session:
        ticket = session.scalar(select(Ticket))
        assert ticket is not None and ticket.requester == "fwd9@example.com"
        assert "the original request" in ticket.messages[0].text


def test_message_nested_far_too_deep_is_not_a_crash(runtime: Runtime) -> None:
    """300 levels of message/rfc822: past the parser's depth bound, still one ticket."""
    inner = "Subject: bottom\r\n\r\nbottom text\r\n"
    for _ in range(300):
        inner = f"Content-Type: message/rfc822\r\n\r\n{inner}"
    raw = build_mail().replace(
        b"Content-Type: text/plain; charset=utf-8\r\n\r\n", inner.encode(), 1
    )
    assert raw.count(b"message/rfc822") == 300
    result = _feed_one(runtime, raw)
    assert result.outcome == "new_ticket", result


def test_every_header_malformed(runtime: Runtime) -> None:
    raw = (
        CRLF.join(
            [
                'From: <<<@@>>> =?bogus?X?zz?= "unclosed',
                "To: ,,,;;; <hr@example.com",
                'Cc: @@@, <>, "" <>',
                "Subject: =?utf-8?B?!!!not base64!!!?= =?x-unknown?Q?=FF=FE?=",
                "Date: the thirty-second of Smarch",
                "Message-ID: <<no@@closing",
                "In-Reply-To: >>><<<",
                "References: <a> <b <c>> <<>>",
                "MIME-Version: 9.9",
                "Content-Type: multipart/; boundary=",
                "Content-Transfer-Encoding: x-rot13",
                "\x00\x01Bad\x7fName: value",
                "no colon on this line at all",
                " continuation of nothing",
            ]
        ).encode()
        + b"\r\n\r\nbody \xff\xfe text\r\n"
    )
    result = _feed_one(runtime, raw)
    assert result.outcome in {"quarantined", "new_ticket"}, result


def test_encoded_subject_and_name_cannot_inject_headers_or_recipients(
    runtime: Runtime, smtp: ScriptedSmtpServer
) -> None:
    evil = "Hi\r\nBcc: evil@attacker.example\r\nX-Injected: yes\r\n\r\nbody"
    subject = "=?utf-8?b?" + base64.b64encode(evil.encode()).decode() + "?="
    name = "=?utf-8?q?Dave=0D=0ABcc=3A_evil2=40attacker=2Eexample=0D=0A?="
    raw = build_mail(sender=f"{name} <dave@example.com>", subject=subject)
    result = _feed_one(runtime, raw)
    assert result.outcome == "new_ticket", result
    drain_jobs(runtime)
    sent = _sent(smtp)
    assert sent, "nothing was sent"
    for rcpt, message in sent:
        assert len(rcpt) == 1 and "attacker" not in rcpt[0]
        assert message["Bcc"] is None and message["X-Injected"] is None
        assert message["Cc"] is None
        assert all("attacker" not in str(a) for a in message["To"].addresses)
    [ack] = [m for r, m in sent if r == ["dave@example.com"]]
    assert "Bcc: evil@attacker.example" in str(ack["Subject"])  # kept as text, one line
    assert "\n" not in str(ack["Subject"])


def test_attachment_name_cannot_climb_out_of_a_folder(runtime: Runtime) -> None:
    raw = _multipart(
        [
            TEXT_PART,
            _attachment("../../etc/passwd", b"root:x:0:0\r\n", "text/plain"),
            _attachment("..\\..\\windows\\win.ini", b"[fonts]\r\n"),
            _attachment("\u202eexe.txt", b"bidi\r\n"),
        ]
    )
    result = _feed_one(runtime, raw)
    assert result.outcome == "new_ticket", result
    with runtime.db.reader() as session:
        names = sorted(session.scalars(select(StoredAttachment.filename)))
    assert names == ["exe.txt", "passwd", "win.ini"]


def _without_message_id(raw: bytes) -> bytes:
    return b"".join(
        line for line in raw.splitlines(keepends=True) if not line.startswith(b"Message-ID:")
    )


def test_mail_without_message_id_is_one_mail_whichever_server_handed_it_on(
    runtime: Runtime,
) -> None:
    """Without a Message-ID the bytes are the key, but not the trace fields a server
    writes on top: the copy from the mailbox and the copy over LMTP carry different ones."""
    mail = _without_message_id(build_mail(subject="No id", body="Printer on floor 3 jams."))
    from_mailbox = (
        b"Return-Path: <dave@example.com>\r\nDelivered-To: hr@example.com\r\n"
        b"Received: from mx.example.com\r\n"
        b"\tby imap.example.com; Sun, 6 Dec 2026 10:00:00 +0000\r\n"
    ) + mail
    over_lmtp = b"Return-Path: <dave@example.com>\r\nDelivered-To: hr@example.com\r\n" + mail
    assert _feed_one(runtime, from_mailbox).outcome == "new_ticket"
    assert _feed_one(runtime, over_lmtp).outcome == "duplicate"
    # Another text is another mail, and a trace field below the sender's own is the mail's.
    other = mail.replace(b"floor 3", b"floor 4")
    assert _feed_one(runtime, other).outcome == "new_ticket"
    moved_down = mail.replace(b"Subject:", b"Received: from elsewhere\r\nSubject:", 1)
    assert _feed_one(runtime, moved_down).outcome == "new_ticket"
