"""Service levels that tell the truth: the clock stops while a ticket waits on the
requester, imported history starts no clock, a met target is no breach, and the
acknowledgement says when the requester can expect an answer.

As in test_sla.py, tickets are aged by moving their timers (and pause) into the past in
the database instead of waiting hours; every test runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import email
import email.policy
import io
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

from sqlalchemy import func, select

from aliasdesk.cli.importing import import_path
from aliasdesk.db.models import SlaTimer, Ticket, TicketEvent, TicketMessage
from aliasdesk.runtime import Runtime
from aliasdesk.services import health
from aliasdesk.services.sla import fire_due_timers
from tests.e2e.test_import import LAST_YEAR, as_mbox, old_mail
from tests.support.harness import ROUTING, build_mail, drain_jobs, feed, runtime_for
from tests.support.smtp_script import ScriptedSmtpServer

FIRST_RESPONSE = timedelta(hours=4)  # HR in config/routing.yaml


def _mails_to(smtp: ScriptedSmtpServer, address: str) -> list[EmailMessage]:
    found = []
    for item in smtp.handler.received:
        if address in item.rcpt_tos:
            parsed = email.message_from_bytes(item.data, policy=email.policy.default)
            assert isinstance(parsed, EmailMessage)
            found.append(parsed)
    return found


def _kinds_to(smtp: ScriptedSmtpServer, address: str) -> list[str]:
    """The notification kind of every mail the address got (it is in the Message-ID)."""
    return [str(m["Message-ID"]).split(".")[1] for m in _mails_to(smtp, address)]


def _text(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    return str(body.get_content())


def _open_ticket(runtime: Runtime, subject: str = "Parental leave") -> None:
    feed(runtime, build_mail(subject=subject))
    drain_jobs(runtime)


def _member_says(runtime: Runtime, smtp: ScriptedSmtpServer, body: str, ref: str = "HR-1") -> None:
    """Alice answers the last mail aliasdesk sent her (which is how her mail is known to
    be hers)."""
    [*_, last] = _mails_to(smtp, "alice@example.com")
    mail = build_mail(
        sender="alice@example.com",
        subject=f"Re: [{ref}] Parental leave",
        body=body,
        headers={"In-Reply-To": str(last["Message-ID"])},
    )
    assert [r.outcome for r in feed(runtime, mail)] == ["update_ticket"]
    drain_jobs(runtime)


def _due_times(runtime: Runtime) -> dict[str, datetime]:
    with runtime.db.reader() as session:
        return {t.kind: t.due_at for t in session.scalars(select(SlaTimer))}


def _move_timers(runtime: Runtime, by: timedelta) -> None:
    """Every timer not fired yet falls due ``by`` earlier, as if that much time had passed."""
    with runtime.db.unit_of_work() as session:
        for timer in session.scalars(select(SlaTimer).where(SlaTimer.fired_at.is_(None))):
            timer.due_at -= by


def test_pending_stops_the_clock_and_the_requesters_answer_moves_it_on(
    runtime: Runtime, smtp: ScriptedSmtpServer
) -> None:
    _open_ticket(runtime)
    before = _due_times(runtime)
    _member_says(runtime, smtp, "#status pending\nCould you send me your contract number?")
    # Two hours waiting on the requester, then they answer and the ticket reopens.
    with runtime.db.unit_of_work() as session:
        ticket = session.scalar(select(Ticket))
        assert ticket is not None and ticket.sla_paused_at is not None
        ticket.sla_paused_at -= timedelta(hours=2)
    answer = build_mail(subject="Re: [HR-1] Parental leave", body="It is 4711.")
    assert [r.outcome for r in feed(runtime, answer)] == ["update_ticket"]
    drain_jobs(runtime)
    with runtime.db.reader() as session:
        ticket = session.scalar(select(Ticket))
        assert ticket is not None and ticket.status == "open" and ticket.sla_paused_at is None
    after = _due_times(runtime)
    # The first response was given (the member's question); the resolution target moved.
    for kind in ("resolution_warning", "resolution_breach"):
        moved = after[kind] - before[kind]
        assert timedelta(hours=2) <= moved < timedelta(hours=2, minutes=1), kind


def _pending_for(runtime: Runtime, by: timedelta) -> None:
    """The ticket has been waiting on the requester ``by`` longer than it has."""
    _move_timers(runtime, by)
    with runtime.db.unit_of_work() as session:
        ticket = session.scalar(select(Ticket))
        assert ticket is not None and ticket.sla_paused_at is not None
        ticket.sla_paused_at -= by


def test_no_escalation_while_the_ticket_waits_on_the_requester(
    runtime: Runtime, smtp: ScriptedSmtpServer
) -> None:
    _open_ticket(runtime)
    _member_says(runtime, smtp, "#status pending\nCould you send me your contract number?")
    _pending_for(runtime, timedelta(days=4))  # past every target, but all of it pending
    assert fire_due_timers(runtime.db, runtime.routing.current()) == 0
    drain_jobs(runtime)
    with runtime.db.reader() as session:
        unfired = session.scalar(
            select(func.count()).select_from(SlaTimer).where(SlaTimer.fired_at.is_(None))
        )
    assert unfired == 4  # kept for when the clock runs again, not thrown away

    # The requester answers: the clock runs again, with the four days added back.
    feed(runtime, build_mail(subject="Re: [HR-1] Parental leave", body="It is 4711."))
    drain_jobs(runtime)  # the relay fires whatever is due: nothing is
    assert "escalation" not in _kinds_to(smtp, "bob@example.com")
    _move_timers(runtime, timedelta(days=4))
    assert fire_due_timers(runtime.db, runtime.routing.current()) == 1
    drain_jobs(runtime)
    assert _kinds_to(smtp, "bob@example.com") == ["escalation"]


def test_status_counts_only_real_breaches(runtime: Runtime, smtp: ScriptedSmtpServer) -> None:
    _open_ticket(runtime, "Parental leave")
    _member_says(runtime, smtp, "Form PL-2, I have sent it to you.")  # first response met
    _open_ticket(runtime, "Payslip missing")  # HR-2: nobody answers
    _move_timers(runtime, FIRST_RESPONSE + timedelta(minutes=1))
    fire_due_timers(runtime.db, runtime.routing.current())
    drain_jobs(runtime)
    with runtime.db.reader() as session:
        fired = session.scalar(
            select(func.count())
            .select_from(SlaTimer)
            .where(SlaTimer.kind == "first_response_breach", SlaTimer.fired_at.is_not(None))
        )
        outcomes = dict(
            session.execute(
                select(Ticket.number, SlaTimer.outcome)
                .join(Ticket, Ticket.id == SlaTimer.ticket_id)
                .where(SlaTimer.kind == "first_response_breach")
            ).all()
        )
    assert fired == 2
    status = health.gather(runtime.db, runtime.settings)
    assert status["sla"]["breaches"] == 1  # HR-2's; HR-1 met its target
    assert outcomes == {1: "met", 2: "escalated"}


def test_acknowledgement_says_when_to_expect_an_answer(
    runtime: Runtime, smtp: ScriptedSmtpServer
) -> None:
    _open_ticket(runtime)
    [ack] = _mails_to(smtp, "dave@example.com")
    assert "within 4 hours" in _text(ack)  # HR: first_response 4h


def test_acknowledgement_promises_nothing_without_a_target(
    database_url: str, smtp: ScriptedSmtpServer, tmp_path: Path
) -> None:
    routing = tmp_path / "routing.yaml"
    text = ROUTING.read_text(encoding="utf-8")
    old = "    sla: {first_response: 4h, resolution: 3d}\n"
    assert old in text
    routing.write_text(text.replace(old, ""), encoding="utf-8")
    runtime = runtime_for(database_url, smtp.port, routing_file=routing)
    try:
        _open_ticket(runtime)
    finally:
        runtime.close()
    [ack] = _mails_to(smtp, "dave@example.com")
    assert "get back to you" in _text(ack) and "within" not in _text(ack)


def test_escalation_names_what_is_due_not_who_is_late(
    runtime: Runtime, smtp: ScriptedSmtpServer
) -> None:
    _open_ticket(runtime)
    _move_timers(runtime, FIRST_RESPONSE + timedelta(minutes=1))
    fire_due_timers(runtime.db, runtime.routing.current())
    drain_jobs(runtime)
    [mail] = _mails_to(smtp, "bob@example.com")
    text = _text(mail)
    assert "HR-1" in text and "first response" in text
    assert "alice" not in text.lower() and "missed" not in text


def test_imported_history_keeps_its_dates_and_starts_no_clock(
    runtime: Runtime, smtp: ScriptedSmtpServer, tmp_path: Path
) -> None:
    mails = [
        old_mail(1, "dave@example.com", "hr@example.com", "Leave form"),
        old_mail(2, "erika@example.com", "it@example.com", "VPN broken"),
        old_mail(
            3,
            "alice@example.com",
            "hr@example.com",
            "Re: Leave form",
            in_reply_to="<old-1@example.com>",
        ),
    ]
    assert import_path(runtime, as_mbox(tmp_path, mails), send_mail=False, out=io.StringIO()) == 0
    with runtime.db.reader() as session:
        tickets = {t.ref: t for t in session.scalars(select(Ticket))}
        timers = session.scalar(select(func.count()).select_from(SlaTimer))
        messages = list(session.scalars(select(TicketMessage.at).order_by(TicketMessage.at)))
        latest_event = session.scalar(select(func.max(TicketEvent.at)))
    assert tickets["HR-1"].created_at == LAST_YEAR + timedelta(hours=1)
    assert tickets["IT-1"].created_at == LAST_YEAR + timedelta(hours=2)
    assert messages == [LAST_YEAR + timedelta(hours=n) for n in (1, 2, 3)]
    assert latest_event == LAST_YEAR + timedelta(hours=3)  # owners given back then too
    assert timers == 0
    assert fire_due_timers(runtime.db, runtime.routing.current()) == 0
    assert smtp.handler.received == []
