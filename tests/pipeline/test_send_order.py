"""One recipient's mails arrive in causal order: the member's answer before the feedback
request it causes, even when the answer's first attempt is slow or fails, and even when
another worker (its own engine and connections) holds the answer mid-send. Other
recipients never wait. Real SMTP (aiosmtpd, recording arrival order), both databases.
"""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from aliasdesk.db.models import Delivery, Job
from aliasdesk.runtime import Runtime
from aliasdesk.services.delivery_batch import claim, record_sent_many
from tests.support.harness import build_mail, drain_jobs, feed, runtime_for
from tests.support.smtp_script import ScriptedSmtpServer

ANSWER = "Here is form PL-2, filled in for you."
WATCHER = "erin@example.com"


def _arrived_for(smtp: ScriptedSmtpServer, address: str) -> list[str]:
    """The kinds of the mails ``address`` got, in the order the server accepted them."""
    kinds = []
    for item in smtp.handler.received:
        if address in item.rcpt_tos:
            parsed = email.message_from_bytes(item.data, policy=email.policy.default)
            kinds.append(str(parsed["Message-ID"]).split(".")[1])
    return kinds


def _last_mail_to(smtp: ScriptedSmtpServer, address: str) -> str:
    [*_, item] = [r for r in smtp.handler.received if address in r.rcpt_tos]
    parsed = email.message_from_bytes(item.data, policy=email.policy.default)
    return str(parsed["Message-ID"])


def _open_and_answer(runtime: Runtime, smtp: ScriptedSmtpServer) -> None:
    """A request (copied to a watcher), then the owner's answer that resolves it: the
    requester is owed the answer and then the feedback request, the watcher the update."""
    feed(runtime, build_mail(headers={"Cc": WATCHER}))
    drain_jobs(runtime)
    answer = build_mail(
        sender="Alice <alice@example.com>",
        subject="Re: [HR-1] Parental leave",
        body=f"#resolve\n{ANSWER}",
        headers={"In-Reply-To": _last_mail_to(smtp, "alice@example.com")},
    )
    assert [r.outcome for r in feed(runtime, answer)] == ["update_ticket"]


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALIASDESK_RETRY_BASE_SECONDS", "0.3")


def test_answer_arrives_before_feedback_request_when_its_first_try_fails(
    runtime: Runtime, smtp: ScriptedSmtpServer
) -> None:
    _open_and_answer(runtime, smtp)
    smtp.handler.answer_mail_containing(b"PL-2", "451 4.3.0 Try again later")
    drain_jobs(runtime)
    assert _arrived_for(smtp, "dave@example.com") == [
        "acknowledgement",
        "reply_relay",
        "feedback_request",
    ]


def test_answer_arrives_before_feedback_request_when_its_server_is_slow(
    runtime: Runtime, smtp: ScriptedSmtpServer
) -> None:
    _open_and_answer(runtime, smtp)
    smtp.handler.answer_mail_containing(b"PL-2", 1.5)
    drain_jobs(runtime)
    assert _arrived_for(smtp, "dave@example.com") == [
        "acknowledgement",
        "reply_relay",
        "feedback_request",
    ]


def test_answer_and_feedback_request_leave_in_one_batch_one_after_the_other(
    runtime: Runtime, smtp: ScriptedSmtpServer
) -> None:
    """Held back for the answer in the same batch, the feedback request goes as soon as
    the answer is recorded, not on the relay's next look."""
    _open_and_answer(runtime, smtp)
    with runtime.db.reader() as session:
        waiting = list(session.scalars(select(Job.id).where(Job.state != "done")))
    runtime.job_runner().run_many(waiting)
    assert _arrived_for(smtp, "dave@example.com") == [
        "acknowledgement",
        "reply_relay",
        "feedback_request",
    ]
    with runtime.db.reader() as session:
        assert session.scalars(select(Job.state).where(Job.id.in_(waiting))).all() == [
            "done"
        ] * len(waiting)


def _delivery(runtime: Runtime, kind: str, recipient: str) -> tuple[int, int]:
    """(delivery id, job id) of the one ``kind`` mail to ``recipient``."""
    with runtime.db.reader() as session:
        row = session.execute(
            select(Delivery.id, Job.id)
            .join(Job, Job.delivery_id == Delivery.id)
            .where(Delivery.kind == kind, Delivery.recipient == recipient)
        ).one()
    return int(row[0]), int(row[1])


def test_a_second_worker_holds_back_while_the_first_sends_the_answer(
    runtime: Runtime, smtp: ScriptedSmtpServer, database_url: str
) -> None:
    _open_and_answer(runtime, smtp)
    relay, relay_job = _delivery(runtime, "reply_relay", "dave@example.com")
    _, feedback_job = _delivery(runtime, "feedback_request", "dave@example.com")
    with runtime.db.reader() as session:
        others = session.scalars(select(Job.id).where(Job.state != "done", Job.id != relay_job))
        everything_else = list(others)
    config = runtime.routing.current()
    # Worker one has claimed the answer (committed) and is talking to the server.
    held = claim(runtime.db, relay, config, runtime.renderer, "aliasdesk", datetime.now(UTC))
    assert held is not None and held.rendered is not None

    other = runtime_for(database_url, smtp.port)
    try:
        worker_two = other.job_runner()
        worker_two.run_many(everything_else)  # the watcher's update waits for its answer…
        worker_two.run_many(everything_else)  # …and goes once that is sent
    finally:
        other.close()
    # The watcher's own answer and update go; nobody waits for another recipient's mail.
    assert _arrived_for(smtp, WATCHER) == ["reply_relay", "status_update"]
    assert _arrived_for(smtp, "dave@example.com") == ["acknowledgement"]
    with runtime.db.reader() as session:
        job = session.get(Job, feedback_job)
        assert job is not None and job.state == "pending"
        assert job.available_at > datetime.now(UTC)  # comes back, soon, by itself

    runtime.mailer.send(held.sender, [held.recipient], held.rendered)
    with runtime.db.unit_of_work() as session:
        assert record_sent_many(session, [held], datetime.now(UTC)) == {relay}
    drain_jobs(runtime)
    assert _arrived_for(smtp, "dave@example.com") == [
        "acknowledgement",
        "reply_relay",
        "feedback_request",
    ]


def test_a_job_run_on_its_own_waits_for_the_earlier_mail_too(
    runtime: Runtime, smtp: ScriptedSmtpServer
) -> None:
    """The one-job path (a Dramatiq actor per job) holds back just as a batch does."""
    _open_and_answer(runtime, smtp)
    _, feedback_job = _delivery(runtime, "feedback_request", "dave@example.com")
    assert runtime.job_runner().run(feedback_job) == "pending"
    assert _arrived_for(smtp, "dave@example.com") == ["acknowledgement"]
    with runtime.db.reader() as session:
        job = session.get(Job, feedback_job)
        assert job is not None and job.state == "pending"
    drain_jobs(runtime)
    assert _arrived_for(smtp, "dave@example.com") == [
        "acknowledgement",
        "reply_relay",
        "feedback_request",
    ]


def test_a_claim_left_by_a_dead_worker_is_sent_before_the_next_mail(
    runtime: Runtime, smtp: ScriptedSmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """kill -9 after the claim of the answer: the feedback request waits until the claim
    runs out and the answer is sent (once, with its own Message-ID), then goes."""
    _open_and_answer(runtime, smtp)
    relay, _ = _delivery(runtime, "reply_relay", "dave@example.com")
    config = runtime.routing.current()
    long_ago = datetime.now(UTC) - timedelta(minutes=10)
    assert claim(runtime.db, relay, config, runtime.renderer, "aliasdesk", long_ago)
    monkeypatch.setenv("ALIASDESK_CLAIM_LEASE_SECONDS", "60")  # long run out
    drain_jobs(runtime)
    assert _arrived_for(smtp, "dave@example.com") == [
        "acknowledgement",
        "reply_relay",
        "feedback_request",
    ]


def test_a_permanent_failure_lets_the_next_mail_go(
    runtime: Runtime, smtp: ScriptedSmtpServer
) -> None:
    _open_and_answer(runtime, smtp)
    smtp.handler.answer_mail_containing(b"PL-2", "550 5.7.1 Not today")
    drain_jobs(runtime)
    assert _arrived_for(smtp, "dave@example.com") == ["acknowledgement", "feedback_request"]
    with runtime.db.reader() as session:
        states = dict(
            session.execute(
                select(Delivery.kind, Delivery.state).where(
                    Delivery.recipient == "dave@example.com"
                )
            ).all()
        )
    assert states == {
        "acknowledgement": "sent",
        "reply_relay": "failed",
        "feedback_request": "sent",
    }
