"""The same jobs through every broker: embedded (in-process outbox), Redis and RabbitMQ.

Each run opens tickets through the real intake, hands the outbox jobs to the broker and
lets a real Dramatiq worker send the mail to a real SMTP server.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from aliasdesk.db.models import Delivery, Job
from aliasdesk.relay import Dispatch, drain, inline_dispatch
from aliasdesk.runtime import Runtime
from aliasdesk.services.takeover import take_over_dead
from tests.support.backends import RABBIT_URL, REDIS_URL, clear_namespace, namespaced_broker
from tests.support.claims import dead_process, hold_one_request, sent_once_as_stored
from tests.support.harness import build_mail, feed, runtime_for
from tests.support.services import port_open, service_missing
from tests.support.smtp_script import ScriptedSmtpServer
from worker.actors import declare_actors
from worker.process import start_dramatiq_worker

BROKERS = {"embedded": "embedded", "redis": REDIS_URL, "rabbitmq": RABBIT_URL}
PORTS = {"redis": 6379, "rabbitmq": 5672}


@pytest.fixture(params=list(BROKERS))
def broker_name(request: pytest.FixtureRequest) -> str:
    name = str(request.param)
    if name in PORTS and not port_open("127.0.0.1", PORTS[name]):
        service_missing(name, f"nothing listens on 127.0.0.1:{PORTS[name]}")
    return name


@pytest.fixture
def setup(
    broker_name: str, sqlite_url: str, smtp: ScriptedSmtpServer
) -> Iterator[tuple[Runtime, Dispatch]]:
    runtime = runtime_for(sqlite_url, smtp.port, broker_url=BROKERS[broker_name])
    if broker_name == "embedded":
        yield runtime, inline_dispatch(runtime)
        runtime.close()
        return
    if broker_name == "redis":
        clear_namespace(REDIS_URL)  # this run's keys only: others may share the server
    broker = namespaced_broker(BROKERS[broker_name])
    broker.flush_all()
    actors = declare_actors(broker)
    worker = start_dramatiq_worker(runtime, broker, threads=2)

    def dispatch(job_id: int, kind: str) -> None:
        actors[kind].send(job_id)

    yield runtime, dispatch
    worker.stop()
    broker.close()
    runtime.close()
    if broker_name == "redis":
        clear_namespace(REDIS_URL)


def test_jobs_run_once_through_the_broker(
    setup: tuple[Runtime, Dispatch], smtp: ScriptedSmtpServer
) -> None:
    runtime, dispatch = setup
    feed(
        runtime, *[build_mail(subject=f"request {i}", sender=f"p{i}@example.com") for i in range(5)]
    )
    drain(runtime, dispatch, max_wait=60)
    with runtime.db.reader() as session:
        states = [j.state for j in session.scalars(select(Job))]
        deliveries = session.scalars(select(Delivery)).all()
    assert states and set(states) == {"done"}
    assert len(deliveries) == 10 and {d.state for d in deliveries} == {"sent"}
    assert len(smtp.handler.received) == 10
    acks = [r for r in smtp.handler.received if r.rcpt_tos[0].startswith("p")]
    assert len(acks) == 5


def test_a_job_published_twice_sends_one_mail(
    setup: tuple[Runtime, Dispatch], smtp: ScriptedSmtpServer
) -> None:
    runtime, dispatch = setup
    feed(runtime, build_mail())
    drain(runtime, dispatch, max_wait=60)
    sent = len(smtp.handler.received)
    with runtime.db.reader() as session:
        jobs = [(j.id, j.kind) for j in session.scalars(select(Job))]
    for job_id, kind in jobs:  # a broker that redelivers everything
        dispatch(job_id, kind)
    drain(runtime, dispatch, max_wait=60)
    time.sleep(0.5)
    assert len(smtp.handler.received) == sent == 2


def test_what_a_dead_worker_held_is_handed_to_the_broker_again(
    setup: tuple[Runtime, Dispatch], smtp: ScriptedSmtpServer
) -> None:
    """Jobs a killed worker had taken (their messages gone with it) and the mails it was
    sending: published again at once through the same broker and sent once, as stored."""
    runtime, dispatch = setup
    claimed = hold_one_request(runtime, dead_process())
    assert take_over_dead(runtime.db).deliveries == len(claimed)
    drain(runtime, dispatch, max_wait=30)
    with runtime.db.reader() as session:
        assert set(session.scalars(select(Job.state))) == {"done"}
        assert set(session.scalars(select(Delivery.state))) == {"sent"}
    assert sent_once_as_stored(claimed, smtp)
