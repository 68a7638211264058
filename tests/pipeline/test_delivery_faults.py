"""SMTP faults while sending: transient errors are retried with the very same mail,
permanent ones are recorded on the ticket, and a crashed worker's claim is taken over
only once its lease has run out."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from aliasdesk.db.models import Delivery, Job, Ticket, TicketMessage
from aliasdesk.runtime import Runtime
from aliasdesk.services import delivery as delivery_service
from aliasdesk.services import delivery_batch, reports
from tests.support.harness import build_mail, drain_jobs, feed
from tests.support.smtp_script import DROP, ScriptedSmtpServer

REQUESTER = "dave@example.com"
OWNER = "alice@example.com"


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retries after milliseconds instead of 5 s, 10 s, 20 s …"""
    monkeypatch.setenv(delivery_service.RETRY_BASE_VARIABLE, "0.002")


def _copies(smtp: ScriptedSmtpServer, address: str) -> list[bytes]:
    return [r.data for r in smtp.handler.received if address in r.rcpt_tos]


def _message_id(data: bytes) -> str:
    return str(email.message_from_bytes(data, policy=email.policy.default)["Message-ID"])


def _delivery_to(runtime: Runtime, address: str) -> Delivery:
    with runtime.db.reader() as session:
        row = session.scalar(select(Delivery).where(Delivery.recipient == address))
    assert row is not None
    return row


def _assert_sent_once_as_stored(runtime: Runtime, smtp: ScriptedSmtpServer, address: str) -> int:
    """Every copy the recipient got is the same mail, under the delivery's Message-ID; the
    delivery is recorded sent once, and its bytes are not kept once sent. Returns how many
    copies arrived."""
    row = _delivery_to(runtime, address)
    copies = _copies(smtp, address)
    assert copies, f"nothing reached {address}"
    assert row.state == "sent" and row.rendered is None
    assert all(copy == copies[0] for copy in copies)
    assert {_message_id(copy) for copy in copies} == {row.message_id}
    with runtime.db.reader() as session:
        recorded = session.scalars(
            select(TicketMessage).where(TicketMessage.delivery_id == row.id)
        ).all()
    assert len(recorded) == 1
    return len(copies)


@pytest.mark.parametrize(
    ("stage", "reply"),
    [("RCPT", "451 4.3.0 try later"), ("MAIL", "421 4.7.0 closing channel")],
)
def test_temporary_refusal_is_retried_and_sent_once_with_the_same_mail(
    runtime: Runtime, smtp: ScriptedSmtpServer, stage: str, reply: str
) -> None:
    smtp.handler.fail_next(stage, reply, times=2)
    feed(runtime, build_mail())
    drain_jobs(runtime)
    assert _assert_sent_once_as_stored(runtime, smtp, REQUESTER) == 1
    assert _assert_sent_once_as_stored(runtime, smtp, OWNER) == 1
    attempts = sorted(_delivery_to(runtime, a).attempts for a in (REQUESTER, OWNER))
    assert sum(attempts) == 4  # two refusals, two successes
    assert len(smtp.handler.received) == 2


def test_permanent_refusal_fails_the_delivery_on_the_ticket_without_retry(
    runtime: Runtime, smtp: ScriptedSmtpServer
) -> None:
    smtp.handler.refuse[REQUESTER] = "550 5.1.1 no such user"
    feed(runtime, build_mail())
    drain_jobs(runtime)
    assert [c for c in smtp.handler.commands if c == f"RCPT {REQUESTER}"] == [f"RCPT {REQUESTER}"]
    assert _copies(smtp, REQUESTER) == []
    assert _assert_sent_once_as_stored(runtime, smtp, OWNER) == 1
    with runtime.db.reader() as session:
        ticket = session.scalar(select(Ticket))
        assert ticket is not None
        shown = reports.show_ticket(session, ticket)
    [failed] = [d for d in shown["deliveries"] if d["recipient"] == REQUESTER]
    assert failed["state"] == "failed" and failed["attempts"] == 1
    assert "550" in failed["error"] and "no such user" in failed["error"]
    notes = [e["detail"] for e in shown["events"] if "could not be delivered" in e["detail"]]
    assert len(notes) == 1 and "acknowledgement" in notes[0] and REQUESTER in notes[0]


def test_connection_dropped_during_data_is_retried_with_identical_bytes(
    runtime: Runtime, smtp: ScriptedSmtpServer
) -> None:
    smtp.handler.fail_next("DATA", DROP)
    feed(runtime, build_mail())
    drain_jobs(runtime)
    copies = _assert_sent_once_as_stored(runtime, smtp, REQUESTER)
    copies += _assert_sent_once_as_stored(runtime, smtp, OWNER)
    assert copies >= 2
    assert smtp.handler.commands.count("DATA") == 3  # the dropped one and two that went through
    assert max(_delivery_to(runtime, a).attempts for a in (REQUESTER, OWNER)) == 2


def _create_deliveries_without_sending(runtime: Runtime) -> None:
    feed(runtime, build_mail())
    with runtime.db.reader() as session:
        job_id = session.scalar(select(Job.id).where(Job.kind == "ticket_created"))
    assert job_id is not None
    runtime.job_runner().run(job_id)


def _claim_as_crashed_worker(runtime: Runtime, address: str, age: timedelta) -> Delivery:
    """What a worker leaves behind when it dies mid-send: a committed claim, stored bytes."""
    row = _delivery_to(runtime, address)
    claimed = delivery_batch.claim(
        runtime.db,
        row.id,
        runtime.routing.current(),
        runtime.renderer,
        runtime.settings.instance_id,
        datetime.now(UTC),
    )
    assert claimed is not None and claimed.rendered is not None
    with runtime.db.unit_of_work() as session:
        session.execute(
            update(Delivery)
            .where(Delivery.id == row.id)
            .values(claimed_at=datetime.now(UTC) - age, claimed_by="other-host:4242:dead")
        )
    return claimed


def test_stale_claim_of_a_crashed_worker_is_sent_again_as_the_same_mail(
    runtime: Runtime, smtp: ScriptedSmtpServer
) -> None:
    _create_deliveries_without_sending(runtime)
    crashed = _claim_as_crashed_worker(
        runtime, REQUESTER, delivery_service.CLAIM_LEASE + timedelta(minutes=1)
    )
    assert crashed.rendered is not None
    # The crashed worker had got its 250 before dying: the recipient has one copy already.
    runtime.mailer.send(crashed.sender, [REQUESTER], crashed.rendered)
    drain_jobs(runtime)
    assert _assert_sent_once_as_stored(runtime, smtp, REQUESTER) == 2
    row = _delivery_to(runtime, REQUESTER)
    assert _copies(smtp, REQUESTER) == [crashed.rendered, crashed.rendered]
    assert row.message_id == crashed.message_id
    assert row.attempts == 2


def test_fresh_claim_of_another_worker_is_not_taken_over(
    runtime: Runtime, smtp: ScriptedSmtpServer
) -> None:
    _create_deliveries_without_sending(runtime)
    _claim_as_crashed_worker(runtime, REQUESTER, timedelta(seconds=5))
    drain_jobs(runtime, max_wait=1.0)
    assert _copies(smtp, REQUESTER) == []
    assert _assert_sent_once_as_stored(runtime, smtp, OWNER) == 1
    row = _delivery_to(runtime, REQUESTER)
    assert (row.state, row.claimed_by, row.attempts) == ("sending", "other-host:4242:dead", 1)
    with runtime.db.reader() as session:
        job = session.scalar(select(Job).where(Job.delivery_id == row.id))
    assert job is not None and job.state == "pending"  # looked at again after the lease
    assert job.available_at > datetime.now(UTC) + delivery_service.CLAIM_LEASE / 2


def test_a_storm_of_temporary_refusals_gives_up_after_max_attempts(
    runtime: Runtime, smtp: ScriptedSmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(delivery_service.MAX_ATTEMPTS_VARIABLE, "12")
    smtp.handler.refuse[REQUESTER] = "451 4.3.0 mailbox busy"
    feed(runtime, build_mail())
    drain_jobs(runtime, max_wait=30)
    tries = smtp.handler.commands.count(f"RCPT {REQUESTER}")
    assert tries == delivery_service.max_attempts()
    row = _delivery_to(runtime, REQUESTER)
    assert row.state == "failed" and row.attempts == delivery_service.max_attempts()
    assert row.last_error is not None
    assert row.last_error.startswith(f"gave up after {delivery_service.max_attempts()} tries")
    assert "451" in row.last_error
    assert _assert_sent_once_as_stored(runtime, smtp, OWNER) == 1
    with runtime.db.reader() as session:
        jobs = session.scalars(select(Job).where(Job.delivery_id == row.id)).all()
    assert [j.state for j in jobs] == ["done"]
