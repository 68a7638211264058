"""A new request becomes an assigned, acknowledged ticket; repeats and robots do not."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage

from sqlalchemy import select

from aliasdesk.db.models import Delivery, InboundMail, Ticket
from aliasdesk.runtime import Runtime
from aliasdesk.services import reports
from tests.support.harness import build_mail, drain_jobs, feed
from tests.support.smtp_script import ScriptedSmtpServer


def _sent(smtp: ScriptedSmtpServer) -> list[tuple[list[str], EmailMessage]]:
    result = []
    for item in smtp.handler.received:
        parsed = email.message_from_bytes(item.data, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        result.append((item.rcpt_tos, parsed))
    return result


def _to(smtp: ScriptedSmtpServer, address: str) -> list[EmailMessage]:
    return [m for rcpt, m in _sent(smtp) if address in rcpt]


def test_request_becomes_assigned_ticket_with_acknowledgement(
    runtime: Runtime, smtp: ScriptedSmtpServer
) -> None:
    results = feed(runtime, build_mail(message_id="<req-1@example.com>"))
    assert [(r.outcome, r.ticket_refs) for r in results] == [("new_ticket", ("HR-1",))]
    drain_jobs(runtime)
    with runtime.db.reader() as session:
        ticket = session.scalar(select(Ticket))
        assert ticket is not None
        assert ticket.owner == "alice@example.com" and ticket.status == "new"
    [ack] = _to(smtp, "dave@example.com")
    assert ack["Subject"].startswith("[HR-1]")
    assert ack["In-Reply-To"] == "<req-1@example.com>"
    assert ack["References"] == "<req-1@example.com>"
    assert ack["Auto-Submitted"] == "auto-replied"
    assert ack["X-Auto-Response-Suppress"] == "All"
    assert ack["From"].addresses[0].addr_spec == "hr@example.com"
    assert ack["Message-ID"]
    assert "Alice" in ack.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    [assignment] = _to(smtp, "alice@example.com")
    assert assignment["Auto-Submitted"] == "auto-generated"
    assert "#resolve" in assignment.get_body(("plain",)).get_content()  # type: ignore[union-attr]


def test_running_again_changes_nothing_and_sends_nothing(
    runtime: Runtime, smtp: ScriptedSmtpServer
) -> None:
    feed(runtime, build_mail())
    drain_jobs(runtime)
    sent = len(smtp.handler.received)
    assert feed(runtime) == []
    assert drain_jobs(runtime) == 0
    assert len(smtp.handler.received) == sent == 2


def test_the_same_mail_twice_is_one_ticket_and_one_duplicate_entry(runtime: Runtime) -> None:
    raw = build_mail(message_id="<twice@example.com>")
    first, second = feed(runtime, raw, raw)
    assert first.outcome == "new_ticket" and second.outcome == "duplicate"
    without_id = build_mail().replace(b"Message-ID:", b"X-Old-Id:")
    a, b = feed(runtime, without_id, without_id)
    assert (a.outcome, b.outcome) == ("new_ticket", "duplicate")
    with runtime.db.reader() as session:
        assert len(session.scalars(select(Ticket)).all()) == 2
        log = reports.list_mail(session)
    assert [e["outcome"] for e in log].count("duplicate") == 2
    assert len(log) == 4


def test_auto_reply_opens_nothing_and_gets_nothing(
    runtime: Runtime, smtp: ScriptedSmtpServer
) -> None:
    raw = build_mail(subject="Automatic reply: away", headers={"Auto-Submitted": "auto-replied"})
    [result] = feed(runtime, raw)
    assert result.outcome == "ignored" and "auto" in result.reason
    drain_jobs(runtime)
    assert smtp.handler.received == []


def test_mail_to_two_departments_opens_a_linked_ticket_in_each(
    runtime: Runtime, smtp: ScriptedSmtpServer
) -> None:
    raw = build_mail(to="hr@example.com, it@example.com, people@example.com")
    [result] = feed(runtime, raw)
    assert result.ticket_refs == ("HR-1", "IT-1")
    drain_jobs(runtime)
    with runtime.db.reader() as session:
        listing = {t["ref"]: t for t in reports.list_tickets(session)}
    assert listing["HR-1"]["links"] == ["IT-1"] and listing["IT-1"]["links"] == ["HR-1"]
    subjects = sorted(m["Subject"].split()[0] for m in _to(smtp, "dave@example.com"))
    assert subjects == ["[HR-1]", "[IT-1]"]


def test_mail_to_no_alias_is_quarantined_with_its_bytes(runtime: Runtime) -> None:
    raw = build_mail(to="someone@elsewhere.example")
    [result] = feed(runtime, raw)
    assert result.outcome == "quarantined" and "alias" in result.reason
    with runtime.db.reader() as session:
        row = session.get(InboundMail, result.inbound_id)
        assert row is not None and row.raw == raw
        assert reports.list_quarantine(session)[0]["reason"] == result.reason


def test_noreply_sender_opens_a_ticket_without_an_answer(
    runtime: Runtime, smtp: ScriptedSmtpServer
) -> None:
    [result] = feed(
        runtime, build_mail(sender="Monitoring <noreply@example.com>", to="it@example.com")
    )
    assert result.outcome == "new_ticket"
    drain_jobs(runtime)
    assert _to(smtp, "noreply@example.com") == []
    assert len(_to(smtp, "carol@example.com")) == 1


def test_no_sender_gets_more_than_ten_automatic_answers_an_hour(
    runtime: Runtime, smtp: ScriptedSmtpServer
) -> None:
    feed(runtime, *[build_mail(subject=f"request {i}") for i in range(12)])
    drain_jobs(runtime)
    acks = [m for m in _to(smtp, "dave@example.com") if m["Auto-Submitted"] == "auto-replied"]
    assert len(acks) == 10
    with runtime.db.reader() as session:
        assert len(session.scalars(select(Ticket)).all()) == 12


def test_round_robin_alternates_between_members(runtime: Runtime) -> None:
    feed(runtime, *[build_mail(subject=f"q{i}") for i in range(4)])
    drain_jobs(runtime)
    with runtime.db.reader() as session:
        owners = [t.owner for t in session.scalars(select(Ticket).order_by(Ticket.number))]
    assert owners == ["alice@example.com", "bob@example.com"] * 2


def test_every_sent_mail_is_recorded_once_with_its_message_id(
    runtime: Runtime, smtp: ScriptedSmtpServer
) -> None:
    feed(runtime, build_mail())
    drain_jobs(runtime)
    with runtime.db.reader() as session:
        deliveries = session.scalars(select(Delivery)).all()
    assert sorted(d.state for d in deliveries) == ["sent", "sent"]
    sent_ids = sorted(m["Message-ID"] for _, m in _sent(smtp))
    assert sent_ids == sorted(d.message_id for d in deliveries)


def test_acknowledgement_comes_from_the_alias_the_requester_wrote_to(
    runtime: Runtime, smtp: ScriptedSmtpServer
) -> None:
    feed(runtime, build_mail(to="people@example.com"))
    drain_jobs(runtime)
    [ack] = _to(smtp, "dave@example.com")
    assert ack["From"].addresses[0].addr_spec == "people@example.com"
    assert ack["Reply-To"].addresses[0].addr_spec == "people@example.com"
