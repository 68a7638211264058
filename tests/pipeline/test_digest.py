"""Members' morning digest: the open tickets each member owns, overdue first, due times
in the department's zone (UTC: no calendars yet); members may opt out; one digest per
member and day, whatever restarts or second processes happen.

The routing file here is config/routing.yaml with the digest every day at 00:00 and Bob
opted out. Tickets opened now came after today's digest moment, so the relay lists them
first tomorrow; the tests then age them by a day, as if opened yesterday, and today's
digest lists them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from email.message import EmailMessage
from gettext import NullTranslations
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event, select

from aliasdesk.db.models import Delivery, SlaTimer, Ticket
from aliasdesk.domain.schedules import parse_schedule
from aliasdesk.notify.language import MailLocale, describe_duration, format_day, speaking
from aliasdesk.notify.render import format_when
from aliasdesk.runtime import Runtime
from aliasdesk.services.digest import DigestRounds
from aliasdesk.services.intake import RawMail, process_pending, store_raw
from tests.support.harness import ROUTING, build_mail, drain_jobs, feed, runtime_for
from tests.support.smtp_script import ScriptedSmtpServer, mails_of_kind

DAVE = "Dave Miller <dave@example.com>"
VERIFIED = {"Authentication-Results": "mx.example.com; dmarc=pass header.from=example.com"}


@pytest.fixture
def digest_runtime(
    database_url: str, smtp: ScriptedSmtpServer, tmp_path: Path
) -> Iterator[Runtime]:
    text = ROUTING.read_text(encoding="utf-8")
    text = text.replace('digest: "mon-fri 07:00"', 'digest: "00:00"')
    text = text.replace(
        "members: [alice@example.com, bob@example.com]",
        "members: [alice@example.com, {address: bob@example.com, digest: false}]",
    )
    routing = tmp_path / "routing.yaml"
    routing.write_text(text, encoding="utf-8")
    rt = runtime_for(database_url, smtp.port, routing_file=routing, authserv_id="mx.example.com")
    yield rt
    rt.close()


def _request(runtime: Runtime, subject: str) -> str:
    [result] = feed(runtime, build_mail(DAVE, "hr@example.com", subject, f"About {subject}."))
    drain_jobs(runtime)
    return result.ticket_refs[0]


def _member_says(runtime: Runtime, ref: str, body: str) -> None:
    mail = build_mail(
        "Alice <alice@example.com>", "hr@example.com", f"Re: [{ref}] x", body, headers=VERIFIED
    )
    assert [r.outcome for r in feed(runtime, mail)] == ["update_ticket"]
    drain_jobs(runtime)


def _digests(smtp: ScriptedSmtpServer) -> list[EmailMessage]:
    return mails_of_kind(smtp, "member_digest")


@contextmanager
def _late_request_digest(
    routing_text: str, database_url: str, smtp: ScriptedSmtpServer, tmp_path: Path
) -> Iterator[tuple[Runtime, str, datetime, EmailMessage]]:
    """With the routing file ``routing_text``: a request a day old, unanswered, and the
    digest it is listed in now: (runtime, its reference, now, the digest)."""
    routing = tmp_path / "routing.yaml"
    routing.write_text(routing_text, encoding="utf-8")
    runtime = runtime_for(database_url, smtp.port, routing_file=routing)
    try:
        late = _request(runtime, "Payslip missing")
        _age_by_a_day(runtime)
        now = datetime.now(UTC)
        assert DigestRounds().run(runtime.db, runtime.routing.current(), now) == 1
        drain_jobs(runtime)
        [digest] = _digests(smtp)
        yield runtime, late, now, digest
    finally:
        runtime.close()


def _text(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert isinstance(body, EmailMessage)
    return " ".join(str(body.get_content()).split())


def _import_old_request(runtime: Runtime) -> None:
    """Mail taken in with --no-mail: history, which must never be mailed about."""
    raw = build_mail(DAVE, "hr@example.com", "Old request from the archive", "Archived.")
    store_raw(
        runtime.db,
        source="import",
        mailbox="archive",
        uidvalidity=None,
        mails=[RawMail(raw, None)],
        send_mail=False,
    )
    process_pending(runtime.db, runtime.routing.current, runtime.pipeline_settings)


def _age_by_a_day(runtime: Runtime) -> None:
    """As if every ticket had been opened a day earlier: their creation and SLA moments
    move back (in Python: SQLite has no date arithmetic on its columns)."""
    with runtime.db.unit_of_work() as session:
        for ticket in session.scalars(select(Ticket)):
            ticket.created_at -= timedelta(days=1)
        for timer in session.scalars(select(SlaTimer)):
            timer.due_at -= timedelta(days=1)


def _relay_in_another_process(runtime: Runtime, smtp: ScriptedSmtpServer) -> None:
    other = runtime_for(
        runtime.settings.database_url,
        smtp.port,
        routing_file=Path(runtime.settings.routing_file),
        authserv_id="mx.example.com",
    )
    try:
        drain_jobs(other)
    finally:
        other.close()


def test_each_member_gets_one_digest_a_day_overdue_first(
    digest_runtime: Runtime, smtp: ScriptedSmtpServer
) -> None:
    runtime = digest_runtime
    late = _request(runtime, "Payslip missing")  # HR-1, Alice: no answer, overdue
    bobs = _request(runtime, "Holiday balance")  # HR-2, Bob: he opted out
    answered = _request(runtime, "Address change")  # HR-3, Alice: answered, resolution due
    waiting = _request(runtime, "Visa letter")  # HR-4, Bob, taken by Alice, then pending
    done = _request(runtime, "Canteen card")  # HR-5, Alice: resolved
    assert (late, bobs, answered, waiting, done) == ("HR-1", "HR-2", "HR-3", "HR-4", "HR-5")
    _member_says(runtime, answered, "Done on our side, please check your payslip.")
    _member_says(runtime, waiting, "#take\n#status pending\nWhich country is it for?")
    _member_says(runtime, done, "#resolve\nYour new card is at the desk.")
    assert _digests(smtp) == [], "today's digest time came before these tickets existed"

    _age_by_a_day(runtime)
    _import_old_request(runtime)
    _relay_in_another_process(runtime, smtp)  # its relay finds today's digest due

    [digest] = _digests(smtp)
    today = datetime.now(UTC)
    assert [a.addr_spec for a in digest["To"].addresses] == ["alice@example.com"]
    assert digest["From"].addresses[0].addr_spec == "aliasdesk-noreply@example.com"
    assert digest["Auto-Submitted"] == "auto-generated" and digest["In-Reply-To"] is None
    assert digest["Subject"] == f"Your open tickets, {format_day(today.date())}: 1 overdue"
    text = _text(digest)
    assert "you have 3 open tickets, 1 of them overdue. Times are UTC." in text
    positions = [text.index(f"{ref} ") for ref in (late, answered, waiting)]
    assert positions == sorted(positions), "overdue first, then by due time, then on hold"
    assert bobs not in text and done not in text and "Old request" not in text
    late_due = _due(runtime, late, "first_response_breach")
    answer_due = _due(runtime, answered, "resolution_breach")
    overdue_by = describe_duration(today - late_due).split()[0]
    assert f"first response overdue by {overdue_by}" in text
    assert f"(was due {format_when(late_due)})" in text
    assert f"resolution due (by {format_when(answer_due)})" in text
    assert "on hold: waiting on the requester" in text

    # Never twice for one day: this process, another one, a later look the same day.
    drain_jobs(runtime)
    _relay_in_another_process(runtime, smtp)
    now = datetime.now(UTC)
    end_of_today = datetime.combine(now.date(), time.max, tzinfo=UTC)
    later = now + min(timedelta(minutes=5), (end_of_today - now) / 2)  # still today
    assert DigestRounds().run(runtime.db, runtime.routing.current(), later) == 0
    assert len(_digests(smtp)) == 1

    # The next day brings the next digest.
    tomorrow = datetime.combine(today.date() + timedelta(days=1), time(6, 31), tzinfo=UTC)
    assert DigestRounds().run(runtime.db, runtime.routing.current(), tomorrow) == 1
    with runtime.db.reader() as session:
        causes = session.scalars(
            select(Delivery.cause).where(Delivery.kind == "member_digest").order_by(Delivery.id)
        ).all()
    assert causes == [f"digest:{today.date()}", f"digest:{tomorrow.date()}"]


def _due(runtime: Runtime, ref: str, kind: str) -> datetime:
    with runtime.db.reader() as session:
        due = session.scalar(
            select(SlaTimer.due_at)
            .join(Ticket, Ticket.id == SlaTimer.ticket_id)
            .where(Ticket.number == int(ref.split("-")[1]), SlaTimer.kind == kind)
        )
    assert due is not None
    return due


def test_no_digest_before_its_time_when_switched_off_or_away(
    digest_runtime: Runtime, smtp: ScriptedSmtpServer
) -> None:
    runtime = digest_runtime
    _request(runtime, "Payslip missing")
    config = runtime.routing.current()
    morning = datetime.combine(datetime.now(UTC).date() + timedelta(days=1), time(6), tzinfo=UTC)
    weekdays = replace(config, digest=parse_schedule("mon-fri 06:30"))
    assert DigestRounds().run(runtime.db, weekdays, morning) == 0  # 06:00: not yet
    assert DigestRounds().run(runtime.db, replace(config, digest=None), morning) == 0
    saturday = morning + timedelta(days=(5 - morning.weekday()) % 7, hours=1)
    assert DigestRounds().run(runtime.db, weekdays, saturday) == 0
    hr = replace(config.departments["HR"], away=("alice@example.com",))
    away = replace(weekdays, departments={**config.departments, "HR": hr})
    assert DigestRounds().run(runtime.db, away, saturday + timedelta(days=2)) == 0
    assert DigestRounds().run(runtime.db, weekdays, saturday + timedelta(days=2)) == 1


def test_the_day_and_the_due_times_follow_the_department_calendar(
    database_url: str, smtp: ScriptedSmtpServer, tmp_path: Path
) -> None:
    """HR on a Berlin calendar open round the clock: its digest comes at 00:00 Berlin time
    and says when things are due on Berlin's clock."""
    text = ROUTING.read_text(encoding="utf-8").replace('digest: "mon-fri 07:00"', 'digest: "00:00"')
    text = text.replace(
        "    sla: {first_response: 4h, resolution: 3d}\n",
        "    sla: {first_response: 4h, resolution: 3d}\n    calendar: berlin\n",
    )
    berlin = '  berlin: {timezone: Europe/Berlin, hours: {mon-sun: "00:00-24:00"}}\n'
    text = text.replace("\ncalendars:\n", f"\ncalendars:\n{berlin}")
    assert berlin in text
    with _late_request_digest(text, database_url, smtp, tmp_path) as (runtime, late, now, digest):
        zone = ZoneInfo("Europe/Berlin")
        local = now.astimezone(zone)
        assert digest["Subject"].startswith(f"Your open tickets, {format_day(local.date())}")
        due = _due(runtime, late, "first_response_breach").astimezone(zone)
        shown = _text(digest)
        assert "Times are Europe/Berlin." in shown
        assert f"(was due {format_when(due)})" in shown and due.tzname() in ("CET", "CEST")
        with runtime.db.reader() as session:
            [cause] = session.scalars(
                select(Delivery.cause).where(Delivery.kind == "member_digest")
            )
        assert cause == f"digest:{local.date()}"


def test_the_relay_asks_the_database_once_a_day(digest_runtime: Runtime) -> None:
    """The relay looks several times a second; once a member's day is settled, looking
    again sends no SQL at all."""
    runtime = digest_runtime
    _request(runtime, "Payslip missing")
    rounds, config = DigestRounds(), runtime.routing.current()
    morning = datetime.combine(datetime.now(UTC).date() + timedelta(days=1), time(6), tzinfo=UTC)
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        seen.append(statement)

    event.listen(runtime.db.engine, "before_cursor_execute", count)
    try:
        assert rounds.run(runtime.db, config, morning) == 1
        assert seen, "the first look of the day reads the tickets"
        seen.clear()
        for minutes in range(1, 30):
            assert rounds.run(runtime.db, config, morning + timedelta(minutes=minutes)) == 0
        assert seen == []
    finally:
        event.remove(runtime.db.engine, "before_cursor_execute", count)


class _Broken(DigestRounds):
    def run(self, db: Any, config: Any, now: datetime) -> int:
        raise RuntimeError("digest could not be made")


def test_a_digest_that_fails_does_not_stop_the_mail(
    digest_runtime: Runtime, smtp: ScriptedSmtpServer
) -> None:
    runtime = digest_runtime
    runtime.digests = _Broken()
    _request(runtime, "Payslip missing")
    sent = [item.rcpt_tos for item in smtp.handler.received]
    assert ["dave@example.com"] in sent and ["alice@example.com"] in sent


class _FailsOnce(DigestRounds):
    calls = 0

    def queue(self, session: Any, config: Any, items: Any, now: datetime) -> int:
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError("the database went away")
        return super().queue(session, config, items, now)


def test_a_failed_round_is_tried_again_a_minute_later_not_at_every_look(
    digest_runtime: Runtime,
) -> None:
    runtime = digest_runtime
    _request(runtime, "Payslip missing")
    rounds, config = _FailsOnce(), runtime.routing.current()
    morning = datetime.combine(datetime.now(UTC).date() + timedelta(days=1), time(6), tzinfo=UTC)
    with pytest.raises(RuntimeError):
        rounds.run(runtime.db, config, morning)
    assert rounds.run(runtime.db, config, morning + timedelta(seconds=59)) == 0
    assert rounds.calls == 1
    assert rounds.run(runtime.db, config, morning + timedelta(seconds=61)) == 1
    assert rounds.calls == 2


def test_a_member_reads_their_digest_in_their_own_language(
    database_url: str, smtp: ScriptedSmtpServer, tmp_path: Path
) -> None:
    """A member written with ``language: de`` gets the digest in German, as their other
    mail, with due times on the department's clock in German."""
    text = ROUTING.read_text(encoding="utf-8").replace('digest: "mon-fri 07:00"', 'digest: "00:00"')
    members = "    members: [alice@example.com, bob@example.com]\n"
    assert members in text
    text = text.replace(
        members,
        "    members: [{address: alice@example.com, language: de}, bob@example.com]\n",
        1,
    )
    with _late_request_digest(text, database_url, smtp, tmp_path) as (runtime, late, now, digest):
        due_at = _due(runtime, late, "first_response_breach")
        with speaking(NullTranslations(), MailLocale("de", "UTC")):
            day, due = format_day(now.date()), format_when(due_at)
        assert digest["Subject"] == f"Ihre offenen Tickets, {day}: 1 überfällig"
        shown = _text(digest)
        assert "Sie haben 1 offenes Ticket, davon 1 überfällig. Zeiten in UTC." in shown
        assert f"(fällig seit {due})" in shown and "erste Antwort seit" in shown
