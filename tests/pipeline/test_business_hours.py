"""Service levels in business time on live mail: the timers follow the department's
calendar and the targets of the ticket's priority, the clock stands still in the statuses
``sla.pause_on`` lists, the escalation says when on the department's clock, and only a
member's public answer is a first response. Every test runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import select

from aliasdesk.db.models import SlaTimer, Ticket
from aliasdesk.domain.calendars import add_business
from aliasdesk.notify.language import format_when
from aliasdesk.runtime import Runtime
from aliasdesk.services.sla import fire_due_timers
from tests.pipeline.conftest import AUTHSERV_ID
from tests.support.harness import ROUTING, build_mail, drain_jobs, feed, runtime_for
from tests.support.smtp_script import ScriptedSmtpServer

VERIFIED = {"Authentication-Results": f"{AUTHSERV_ID}; dmarc=pass header.from=example.com"}
HR_SLA = "    sla: {first_response: 4h, resolution: 3d}\n"
OFFICE = """
calendars:
  office:
    timezone: Europe/Berlin
    hours: {mon-fri: "08:00-12:00, 13:00-17:00"}
    holidays: [2026-12-24, 2026-12-25]
"""


def runtime_with(
    database_url: str, smtp: ScriptedSmtpServer, tmp_path: Path, hr: str, extra: str = ""
) -> Runtime:
    text = ROUTING.read_text(encoding="utf-8")
    assert HR_SLA in text
    routing = tmp_path / "routing.yaml"
    if extra:  # calendars of the test's own instead of the shipped ones (the last section)
        text = text[: text.index("\ncalendars:")] + extra
    routing.write_text(text.replace(HR_SLA, hr), encoding="utf-8")
    return runtime_for(database_url, smtp.port, routing_file=routing, authserv_id=AUTHSERV_ID)


@pytest.fixture
def office(database_url: str, smtp: ScriptedSmtpServer, tmp_path: Path) -> Iterator[Runtime]:
    hr = "    sla: {first_response: 4h, resolution: 3d, normal: {first_response: 2h}}\n"
    runtime = runtime_with(database_url, smtp, tmp_path, hr + "    calendar: office\n", OFFICE)
    yield runtime
    runtime.close()


def member_says(runtime: Runtime, body: str) -> None:
    mail = build_mail(
        sender="alice@example.com", subject="Re: [HR-1] Parental leave", body=body, headers=VERIFIED
    )
    assert [r.outcome for r in feed(runtime, mail)] == ["update_ticket"]
    drain_jobs(runtime)


def ticket_of(runtime: Runtime) -> Ticket:
    with runtime.db.reader() as session:
        ticket = session.scalar(select(Ticket))
        assert ticket is not None
        return ticket


def timers_of(runtime: Runtime) -> dict[str, SlaTimer]:
    with runtime.db.reader() as session:
        return {timer.kind: timer for timer in session.scalars(select(SlaTimer))}


def mails_to(smtp: ScriptedSmtpServer, address: str) -> list[EmailMessage]:
    found = []
    for item in smtp.handler.received:
        if address in item.rcpt_tos:
            parsed = email.message_from_bytes(item.data, policy=email.policy.default)
            assert isinstance(parsed, EmailMessage)
            found.append(parsed)
    return found


def test_timers_fall_due_in_business_time_with_the_prioritys_own_target(
    office: Runtime, smtp: ScriptedSmtpServer
) -> None:
    feed(office, build_mail())
    drain_jobs(office)
    ticket = ticket_of(office)
    calendar = office.routing.current().departments["HR"].calendar
    due = {kind: timer.due_at for kind, timer in timers_of(office).items()}
    hours = timedelta(hours=1)
    assert due == {
        "first_response_warning": add_business(calendar, ticket.created_at, 2 * hours * 0.8),
        "first_response_breach": add_business(calendar, ticket.created_at, 2 * hours),
        "resolution_warning": add_business(calendar, ticket.created_at, 72 * hours * 0.8),
        "resolution_breach": add_business(calendar, ticket.created_at, 72 * hours),
    }
    # 72 business hours of 8-hour days: nine working days, so over ten calendar days
    # whatever the day and hour it opened (Monday 09:00 to the next week's Thursday
    # 17:00 is the shortest), never three.
    assert due["resolution_breach"] - ticket.created_at > timedelta(days=10)
    assert (ticket.target_first_response_s, ticket.target_resolution_s) == (7200, 72 * 3600)
    # The acknowledgement promises the answer by when, on the department's clock.
    [ack] = mails_to(smtp, "dave@example.com")
    text = ack.get_body(("plain",))
    assert text is not None
    by = format_when(calendar.local(due["first_response_breach"]))
    assert f"within 2 hours of working time (by {by})" in " ".join(text.get_content().split())


def test_the_escalation_says_when_on_the_departments_clock(
    office: Runtime, smtp: ScriptedSmtpServer
) -> None:
    feed(office, build_mail())
    drain_jobs(office)
    breach = timers_of(office)["first_response_breach"].due_at
    shift = breach - datetime.now(UTC) + timedelta(minutes=1)  # the breach a minute ago
    with office.db.unit_of_work() as session:
        for timer in session.scalars(select(SlaTimer)):
            timer.due_at -= shift
    moved = breach - shift
    fire_due_timers(office.db, office.routing.current())
    drain_jobs(office)
    [escalation] = mails_to(smtp, "bob@example.com")
    body = escalation.get_body(("plain",))
    assert body is not None
    calendar = office.routing.current().departments["HR"].calendar
    local = format_when(calendar.local(moved))
    assert local.endswith(("CET", "CEST")) and local in body.get_content()


def test_only_a_members_public_answer_is_the_first_response(
    runtime: Runtime, smtp: ScriptedSmtpServer
) -> None:
    feed(runtime, build_mail())
    drain_jobs(runtime)
    assert mails_to(smtp, "dave@example.com")  # the acknowledgement went out
    with runtime.db.unit_of_work() as session:
        ticket = session.scalar(select(Ticket))
        assert ticket is not None
        ticket.created_at -= timedelta(hours=2)  # opened two hours ago
    member_says(runtime, "#note\nChecking with payroll first.")
    assert ticket_of(runtime).first_response_at is None
    member_says(runtime, "#status pending")  # the requester is told, by automatic mail
    assert [m["Subject"] for m in mails_to(smtp, "dave@example.com")][1:]  # status mail
    assert ticket_of(runtime).first_response_at is None
    with runtime.db.unit_of_work() as session:
        ticket = session.scalar(select(Ticket))
        assert ticket is not None and ticket.sla_paused_at is not None
        ticket.sla_paused_at -= timedelta(minutes=30)  # pending for half an hour now
    member_says(runtime, "Form PL-2 is the one you need.")
    ticket = ticket_of(runtime)
    assert ticket.first_response_at is not None
    # Two hours open, of which the last half hour the clock stood still.
    assert ticket.first_response_s is not None
    assert 5400 <= ticket.first_response_s < 5400 + 60
    member_says(runtime, "One more thing: sign it twice.")
    assert ticket_of(runtime).first_response_at == ticket.first_response_at


def test_pause_on_new_holds_the_clock_until_a_member_acts(
    database_url: str, smtp: ScriptedSmtpServer, tmp_path: Path
) -> None:
    hr = "    sla: {first_response: 4h, resolution: 3d, pause_on: [new, pending]}\n"
    runtime = runtime_with(database_url, smtp, tmp_path, hr)
    try:
        feed(runtime, build_mail())
        drain_jobs(runtime)
        ticket = ticket_of(runtime)
        assert ticket.sla_paused_at == ticket.created_at
        before = {kind: timer.due_at for kind, timer in timers_of(runtime).items()}
        with runtime.db.unit_of_work() as session:  # waiting as new for five hours
            for timer in session.scalars(select(SlaTimer)):
                timer.due_at -= timedelta(hours=5)
            stored = session.scalar(select(Ticket))
            assert stored is not None and stored.sla_paused_at is not None
            stored.sla_paused_at -= timedelta(hours=5)
        assert fire_due_timers(runtime.db, runtime.routing.current()) == 0
        member_says(runtime, "#take")  # the first member action opens it: the clock runs
        after = {kind: timer.due_at for kind, timer in timers_of(runtime).items()}
        for kind, due in after.items():  # the five hours came back, and a moment more
            assert timedelta() <= due - before[kind] < timedelta(minutes=1), kind
        assert ticket_of(runtime).sla_paused_at is None
        assert 5 * 3600 <= ticket_of(runtime).sla_paused_s < 5 * 3600 + 60
    finally:
        runtime.close()
