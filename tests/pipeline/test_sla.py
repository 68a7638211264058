"""Service levels: a warning to the owner at 80 % of a target, an escalation to the
department and the admins when it is missed, each exactly once, even across restarts;
nothing for a target that no longer applies.

Most tests age the ticket instead of waiting hours: its timers are moved into the past in
the database, as if it had been opened that long ago. One uses a routing file with a
2-second target and the real clock, through the relay.
"""

from __future__ import annotations

import email
import email.policy
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select, update

from aliasdesk.db.models import SlaTimer, Ticket
from aliasdesk.runtime import Runtime
from aliasdesk.services import reports
from aliasdesk.services.sla import fire_due_timers
from tests.support.harness import ROUTING, build_mail, drain_jobs, feed, runtime_for
from tests.support.smtp_script import ScriptedSmtpServer

HR_TEAM = ["alice@example.com", "bob@example.com"]
ADMIN = "ops@example.com"
VERIFIED = {"Authentication-Results": "mx.example.com; dmarc=pass header.from=example.com"}
"""A member's mail as the receiving server the pipeline tests trust vouches for it."""
FIRST_RESPONSE = timedelta(hours=4)  # HR in config/routing.yaml
TARGETS = {"first_response": FIRST_RESPONSE, "resolution": timedelta(days=3)}


def _offset(kind: str) -> timedelta:
    """When a timer falls due after the ticket is opened: 80 % of its target, or all of it."""
    target, _, moment = kind.rpartition("_")
    return TARGETS[target] * (0.8 if moment == "warning" else 1)


def _kinds_to(smtp: ScriptedSmtpServer, address: str) -> list[str]:
    """The notification kind of every mail the address got (it is in the Message-ID)."""
    kinds = []
    for item in smtp.handler.received:
        if address in item.rcpt_tos:
            parsed = email.message_from_bytes(item.data, policy=email.policy.default)
            kinds.append(str(parsed["Message-ID"]).split(".")[1])
    return sorted(kinds)


def _open_ticket(runtime: Runtime) -> None:
    feed(runtime, build_mail())
    drain_jobs(runtime)


def _fire(runtime: Runtime, age: timedelta) -> int:
    """Fire what is due once the ticket is ``age`` old, then send what that queued."""
    now = datetime.now(UTC)
    with runtime.db.unit_of_work() as session:
        for timer in session.scalars(select(SlaTimer)).all():
            due = now - age + _offset(timer.kind)
            session.execute(update(SlaTimer).where(SlaTimer.id == timer.id).values(due_at=due))
    fired = fire_due_timers(runtime.db, runtime.routing.current())
    drain_jobs(runtime)
    return fired


def _shown(runtime: Runtime) -> dict[str, Any]:
    with runtime.db.reader() as session:
        ticket = session.scalar(select(Ticket))
        assert ticket is not None
        return reports.show_ticket(session, ticket)


def _escalations(runtime: Runtime) -> list[str]:
    return [e["detail"] for e in _shown(runtime)["events"] if e["kind"] == "escalated"]


def test_warning_at_80_percent_then_escalation_each_once_across_restarts(
    runtime: Runtime, smtp: ScriptedSmtpServer, database_url: str
) -> None:
    _open_ticket(runtime)
    assert _fire(runtime, FIRST_RESPONSE * 0.75) == 0
    assert _kinds_to(smtp, "alice@example.com") == ["assignment"]

    warn_at = FIRST_RESPONSE * 0.81
    assert _fire(runtime, warn_at) == 1
    assert _fire(runtime, warn_at) == 0
    assert _kinds_to(smtp, "alice@example.com") == ["assignment", "sla_warning"]
    assert _kinds_to(smtp, "bob@example.com") == [] and _kinds_to(smtp, ADMIN) == []

    breach_at = FIRST_RESPONSE + timedelta(minutes=1)
    assert _fire(runtime, breach_at) == 1
    restarted = runtime_for(database_url, smtp.port)
    try:
        assert _fire(restarted, breach_at + timedelta(minutes=5)) == 0
    finally:
        restarted.close()
    assert _fire(runtime, breach_at + timedelta(minutes=10)) == 0

    assert _kinds_to(smtp, "alice@example.com") == ["assignment", "escalation", "sla_warning"]
    assert _kinds_to(smtp, "bob@example.com") == ["escalation"]
    assert _kinds_to(smtp, ADMIN) == ["escalation"]
    assert _kinds_to(smtp, "dave@example.com") == ["acknowledgement"]
    assert _escalations(runtime) == ["first response target missed"]


def test_no_warning_or_escalation_once_a_member_has_answered(
    runtime: Runtime, smtp: ScriptedSmtpServer
) -> None:
    _open_ticket(runtime)
    answer = build_mail(
        sender="Alice <alice@example.com>",
        to="hr@example.com",
        subject="Re: [HR-1] Parental leave",
        body="Form PL-2, I have sent it to you.",
        headers=VERIFIED,
    )
    assert [r.outcome for r in feed(runtime, answer)] == ["update_ticket"]
    drain_jobs(runtime)
    assert _fire(runtime, FIRST_RESPONSE * 0.9) == 0
    assert _fire(runtime, FIRST_RESPONSE * 2) == 0
    assert "sla_warning" not in _kinds_to(smtp, "alice@example.com")
    assert _kinds_to(smtp, ADMIN) == [] and _escalations(runtime) == []


def test_nothing_fires_for_a_resolved_ticket(runtime: Runtime, smtp: ScriptedSmtpServer) -> None:
    _open_ticket(runtime)
    resolve = build_mail(
        sender="alice@example.com",
        to="hr@example.com",
        subject="Re: [HR-1] Parental leave",
        body="#resolve\nDone, see the intranet page.",
        headers=VERIFIED,
    )
    feed(runtime, resolve)
    drain_jobs(runtime)
    assert _shown(runtime)["status"] == "resolved"
    sent_before = len(smtp.handler.received)
    assert _fire(runtime, timedelta(days=4)) == 0
    assert len(smtp.handler.received) == sent_before
    assert _escalations(runtime) == []
    with runtime.db.reader() as session:
        timers = session.scalars(select(SlaTimer)).all()
    assert len(timers) == 4 and all(t.fired_at is not None for t in timers)


def test_short_target_escalates_on_the_real_clock_through_the_relay(
    database_url: str, smtp: ScriptedSmtpServer, tmp_path: Path
) -> None:
    routing = tmp_path / "routing.yaml"
    text = ROUTING.read_text(encoding="utf-8")
    old = "sla: {first_response: 4h, resolution: 3d}"
    assert old in text
    routing.write_text(text.replace(old, "sla: {first_response: 2s, resolution: 1h}"))
    runtime = runtime_for(database_url, smtp.port, routing_file=routing)
    try:
        _open_ticket(runtime)
        time.sleep(2.2)
        drain_jobs(runtime)  # the relay fires due timers itself
        drain_jobs(runtime)
        # The relay saw the warning only once its target was missed already: no
        # "time left" mail about a missed target, straight to the escalation.
        assert _kinds_to(smtp, "alice@example.com") == ["assignment", "escalation"]
        assert _kinds_to(smtp, "bob@example.com") == ["escalation"]
        assert _kinds_to(smtp, ADMIN) == ["escalation"]
        assert _escalations(runtime) == ["first response target missed"]
        [mail] = [r for r in smtp.handler.received if ADMIN in r.rcpt_tos]
        parsed = email.message_from_bytes(mail.data, policy=email.policy.default)
        body = parsed.get_body(("plain",))
        assert body is not None and "was due for its first response" in body.get_content()
        assert parsed["Subject"].strip().startswith("[HR-1]")
    finally:
        runtime.close()
