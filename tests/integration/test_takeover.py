"""Claims of dead processes are taken over at once; claims of live ones never.

Each test leaves a request's deliveries claimed (``sending``, bytes stored) and their jobs
published, as a process killed mid-send leaves them, names a holder, and runs one takeover
pass. The holders are real processes: a child that has exited, a child still running, a
running child under a start time that is not its own (its pid reused), and a process on
another host judged by its heartbeat row. On SQLite and PostgreSQL, with leases far
longer than the test, so anything taken was taken by the takeover and not by a lease.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from aliasdesk.db.models import Delivery, Holder, Job
from aliasdesk.runtime import Runtime
from aliasdesk.services.delivery import not_claimed
from aliasdesk.services.holders import (
    DEFAULT_HEARTBEAT,
    HEARTBEAT_VARIABLE,
    HolderId,
    beat,
    forget,
    heartbeat_interval,
    host_name,
    stale_after,
    this_holder,
)
from aliasdesk.services.outbox import claim_due_jobs, hold_jobs
from aliasdesk.services.takeover import Watch, take_over_dead, watching
from tests.support.claims import dead_process, hold_one_request, live_process, sent_once_as_stored
from tests.support.harness import build_mail, drain_jobs, feed, runtime_for
from tests.support.smtp_script import ScriptedSmtpServer

REMOTE = HolderId("elsewhere.example.net", 4242, 1_700_000_000.25)


@pytest.fixture
def runtime(database_url: str, smtp: ScriptedSmtpServer) -> Iterator[Runtime]:
    rt = runtime_for(database_url, smtp.port)
    yield rt
    rt.close()


@pytest.fixture
def live_child() -> Iterator[HolderId]:
    with live_process() as holder:
        yield holder


@pytest.fixture
def dead_child() -> HolderId:
    return dead_process()


def _states(runtime: Runtime) -> tuple[set[str], set[str]]:
    with runtime.db.reader() as session:
        deliveries = set(session.scalars(select(Delivery.state)))
        jobs = set(session.scalars(select(Job.state).where(Job.kind == "deliver")))
    return deliveries, jobs


def _assert_sent_once_as_stored(claimed: list[Delivery], smtp: ScriptedSmtpServer) -> None:
    assert sent_once_as_stored(claimed, smtp), [r.data[:200] for r in smtp.handler.received]


def test_a_dead_local_holder_is_taken_over_at_once(
    runtime: Runtime, smtp: ScriptedSmtpServer, dead_child: HolderId
) -> None:
    claimed = hold_one_request(runtime, dead_child)

    taken = take_over_dead(runtime.db)

    assert taken.holders == {dead_child.name}
    assert taken.deliveries == len(claimed) and taken.jobs >= len(claimed)
    assert _states(runtime) == ({"pending"}, {"pending"})
    drain_jobs(runtime, max_wait=10)
    assert _states(runtime) == ({"sent"}, {"done"})
    _assert_sent_once_as_stored(claimed, smtp)


def test_a_live_holder_keeps_its_claims(
    runtime: Runtime, smtp: ScriptedSmtpServer, live_child: HolderId
) -> None:
    claimed = hold_one_request(runtime, live_child)

    assert take_over_dead(runtime.db).holders == frozenset()

    assert _states(runtime) == ({"sending"}, {"published"})
    # Handed to a worker anyway (a broker delivering twice): the claim holds, nothing sent.
    runtime.job_runner().run_many([j.id for j in _jobs(runtime) if j.kind == "deliver"])
    assert "DATA" not in smtp.handler.commands
    with runtime.db.reader() as session:
        holders = set(session.scalars(select(Delivery.holder)))
    assert holders == {live_child.name} and len(claimed) == 2


def _jobs(runtime: Runtime) -> list[Job]:
    with runtime.db.reader() as session:
        return list(session.scalars(select(Job)))


def test_a_reused_pid_with_another_start_time_counts_as_dead(
    runtime: Runtime, smtp: ScriptedSmtpServer, live_child: HolderId
) -> None:
    earlier = HolderId(live_child.host, live_child.pid, live_child.started - 37.5)
    claimed = hold_one_request(runtime, earlier)

    assert take_over_dead(runtime.db).holders == {earlier.name}

    drain_jobs(runtime, max_wait=10)
    assert _states(runtime) == ({"sent"}, {"done"})
    _assert_sent_once_as_stored(claimed, smtp)


@pytest.mark.parametrize(
    ("beat_age", "taken"),
    [(timedelta(minutes=1), True), (timedelta(seconds=0), False), (None, False)],
    ids=["stale-heartbeat", "fresh-heartbeat", "no-heartbeat"],
)
def test_a_remote_holder_is_judged_by_its_heartbeat(
    runtime: Runtime, smtp: ScriptedSmtpServer, beat_age: timedelta | None, taken: bool
) -> None:
    claimed = hold_one_request(runtime, REMOTE)
    now = datetime.now(UTC)
    if beat_age is not None:
        with runtime.db.unit_of_work() as session:
            session.add(
                Holder(
                    name=REMOTE.name,
                    host=REMOTE.host,
                    pid=REMOTE.pid,
                    started=REMOTE.started,
                    beat_at=now - beat_age,
                )
            )
    assert beat_age is None or beat_age > stale_after() or not taken

    result = take_over_dead(runtime.db, now)

    assert result.holders == ({REMOTE.name} if taken else frozenset())
    if taken:
        drain_jobs(runtime, max_wait=10)
        assert _states(runtime) == ({"sent"}, {"done"})
        _assert_sent_once_as_stored(claimed, smtp)
        with runtime.db.reader() as session:
            assert session.get(Holder, REMOTE.name) is None
    else:
        assert _states(runtime) == ({"sending"}, {"published"})


def test_a_container_with_this_host_name_is_not_judged_by_our_process_table(
    runtime: Runtime, dead_child: HolderId
) -> None:
    """Same host name, another pid namespace (a container given this name): its pids are
    not ours to look up, so without a heartbeat its claims wait for the lease."""
    name = socket.gethostname()
    twin = HolderId(f"{name[:48]}/0000000000", dead_child.pid, dead_child.started)
    assert host_name() != twin.host and host_name().startswith(f"{name[:48]}/")
    hold_one_request(runtime, twin)

    assert take_over_dead(runtime.db).holders == frozenset()
    assert _states(runtime) == ({"sending"}, {"published"})


def test_a_job_a_live_worker_took_stays_when_its_publisher_dies(
    runtime: Runtime, dead_child: HolderId
) -> None:
    """A broker's worker names itself on the jobs it runs: the dead relay that published
    them no longer answers for them."""
    hold_one_request(runtime, dead_child)
    with runtime.db.unit_of_work() as session:
        session.execute(update(Delivery).values(holder=this_holder().name))
    deliver_jobs = [j.id for j in _jobs(runtime) if j.kind == "deliver"]

    hold_jobs(runtime.db, deliver_jobs)
    taken = take_over_dead(runtime.db)

    assert taken.jobs == 0 and taken.deliveries == 0
    assert _states(runtime) == ({"sending"}, {"published"})


def test_a_free_delivery_left_untaken_has_its_job_due_again(runtime: Runtime) -> None:
    """A worker that did not take a pending delivery (what it waited for settled meanwhile)
    must not leave the job published with nobody running it until the publish lease."""
    feed(runtime, build_mail())
    runner = runtime.job_runner()
    for job_id, kind in claim_due_jobs(runtime.db):
        if kind == "ticket_created":
            runner.run(job_id)
    published = [job_id for job_id, kind in claim_due_jobs(runtime.db) if kind == "deliver"]
    with runtime.db.reader() as session:
        first = session.get(Job, published[0])
        assert first is not None and first.delivery_id is not None

    assert not_claimed(runtime.db, first.delivery_id).state == "pending"

    with runtime.db.reader() as session:
        jobs = {job.id: job for job in session.scalars(select(Job).where(Job.id.in_(published)))}
    assert jobs[first.id].state == "pending" and jobs[first.id].holder is None
    assert jobs[first.id].available_at <= datetime.now(UTC)
    assert {jobs[i].state for i in published[1:]} == {"published"}


def test_the_heartbeat_comes_back_after_being_taken_for_dead(runtime: Runtime) -> None:
    me = this_holder()
    watch = Watch(runtime.db, interval=60)
    assert watch.tick().holders == frozenset()  # never judges itself
    forget(runtime.db, [me.name])
    later = datetime.now(UTC) + timedelta(seconds=5)
    beat(runtime.db, later)
    with runtime.db.reader() as session:
        row = session.get(Holder, me.name)
    assert row is not None and row.beat_at == later and (row.host, row.pid) == (me.host, me.pid)


def _my_beat(runtime: Runtime) -> datetime | None:
    with runtime.db.reader() as session:
        row = session.get(Holder, this_holder().name)
        return row.beat_at if row is not None else None


def test_a_watched_process_keeps_its_heartbeat_fresh(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(HEARTBEAT_VARIABLE, "0.1")
    with watching(runtime.db):
        first = _my_beat(runtime)
        assert first is not None  # written before the block starts
        deadline = time.monotonic() + 10
        while (_my_beat(runtime) or first) <= first and time.monotonic() < deadline:
            time.sleep(0.05)
        assert (_my_beat(runtime) or first) > first


@pytest.mark.parametrize("value", ["soon", "-1", "0"])
def test_a_bad_heartbeat_setting_keeps_the_default(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(HEARTBEAT_VARIABLE, value)
    assert heartbeat_interval() == DEFAULT_HEARTBEAT


def test_holder_names_survive_the_round_trip() -> None:
    me = this_holder()
    assert HolderId.parse(me.name) == HolderId(me.host, me.pid, round(me.started, 2))
    assert HolderId.parse("host:with:colons:12:3.5") == HolderId("host:with:colons", 12, 3.5)
    assert HolderId.parse("not-a-holder") is None
    assert HolderId.parse("host:pid:start") is None
