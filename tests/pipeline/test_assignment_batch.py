"""New tickets are assigned a whole batch at a time, in one transaction: the batch must
hand tickets out exactly as one-by-one assignment would, and its shortcuts (what it
remembers instead of asking the database again) must not survive a rollback."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from sqlalchemy import select

from aliasdesk.db.models import Delivery, Job, SlaTimer, Ticket
from aliasdesk.runtime import Runtime
from aliasdesk.services.notifications import queue_notification
from tests.support.harness import build_mail, drain_jobs, feed
from tests.support.smtp_script import ScriptedSmtpServer

IT_MEMBERS = {"carol@example.com", "dan@example.com", "erin@example.com"}


def _owners(runtime: Runtime, department: str) -> list[str | None]:
    with runtime.db.reader() as session:
        return list(
            session.scalars(
                select(Ticket.owner).where(Ticket.department == department).order_by(Ticket.number)
            )
        )


def test_least_loaded_spreads_one_batch_evenly(runtime: Runtime) -> None:
    # Nine requests from nine people, all committed before the jobs run: one batch.
    feed(
        runtime,
        *[build_mail(sender=f"p{i}@example.com", to="it@example.com") for i in range(9)],
    )
    drain_jobs(runtime)
    owners = _owners(runtime, "IT")
    assert len(owners) == 9
    assert Counter(owners) == {member: 3 for member in IT_MEMBERS}


def test_least_loaded_counts_tickets_open_before_the_batch(runtime: Runtime) -> None:
    feed(runtime, *[build_mail(sender=f"a{i}@example.com", to="it@example.com") for i in range(2)])
    drain_jobs(runtime)
    first_two = set(_owners(runtime, "IT"))
    feed(runtime, *[build_mail(sender=f"b{i}@example.com", to="it@example.com") for i in range(4)])
    drain_jobs(runtime)
    owners = _owners(runtime, "IT")
    counts = Counter(owners)
    # Six tickets over three members: two each, so the member idle after the first
    # batch got two of the second one.
    assert counts == {member: 2 for member in IT_MEMBERS}
    [idle] = IT_MEMBERS - first_two
    assert owners[2:].count(idle) == 2


def test_round_robin_continues_across_batches(runtime: Runtime) -> None:
    feed(runtime, *[build_mail(subject=f"q{i}") for i in range(3)])
    drain_jobs(runtime)
    feed(runtime, *[build_mail(subject=f"r{i}") for i in range(3)])
    drain_jobs(runtime)
    assert _owners(runtime, "HR") == ["alice@example.com", "bob@example.com"] * 3


def test_one_batch_respects_the_hourly_cap_of_automatic_answers(
    runtime: Runtime, smtp: ScriptedSmtpServer
) -> None:
    feed(runtime, *[build_mail(subject=f"request {i}", to="it@example.com") for i in range(15)])
    drain_jobs(runtime)
    acks = [
        item
        for item in smtp.handler.received
        if "dave@example.com" in item.rcpt_tos and b"Auto-Submitted: auto-replied" in item.data
    ]
    assert len(acks) == 10
    with runtime.db.reader() as session:
        assert len(session.scalars(select(Ticket)).all()) == 15
        owners = session.scalars(select(Ticket.owner)).all()
        assert set(owners) == IT_MEMBERS  # every ticket assigned, mail or no mail
        jobs = session.scalars(select(Job)).all()
        assert all(job.state == "done" for job in jobs)


def test_a_batch_writes_each_ticket_its_sla_timers_once(runtime: Runtime) -> None:
    feed(runtime, *[build_mail(sender=f"s{i}@example.com", to="it@example.com") for i in range(5)])
    drain_jobs(runtime)
    drain_jobs(runtime)
    with runtime.db.reader() as session:
        timers = session.execute(select(SlaTimer.ticket_id, SlaTimer.kind)).all()
        tickets = session.scalars(select(Ticket.id)).all()
    kinds = {"first_response_warning", "first_response_breach"}
    kinds |= {"resolution_warning", "resolution_breach"}
    assert sorted(timers) == sorted((t, k) for t in tickets for k in kinds)


def test_a_rolled_back_notification_can_be_queued_again(runtime: Runtime) -> None:
    feed(runtime, build_mail(to="facilities@example.com"))
    drain_jobs(runtime)
    now = datetime.now(UTC)
    with runtime.db.unit_of_work() as session:
        ticket = session.scalars(select(Ticket)).one()

        def queue() -> Delivery | None:
            return queue_notification(
                session,
                kind="status_update",
                recipient="someone@example.com",
                sender="facilities@example.com",
                cause="test:rollback",
                now=now,
                ticket=ticket,
            )

        savepoint = session.begin_nested()
        assert queue() is not None
        assert queue() is None  # the same cause, kind and recipient: already queued
        savepoint.rollback()
        assert queue() is not None  # the first one is gone with its savepoint
    with runtime.db.reader() as session:
        rows = session.scalars(select(Delivery).where(Delivery.cause == "test:rollback")).all()
        assert len(rows) == 1
        job = session.scalars(select(Job).where(Job.delivery_id == rows[0].id)).one()
        assert job.kind == "deliver"
