"""Two workers racing for the same deliveries: every job is handed out twice, at once,
and still every delivery reaches the SMTP server exactly once.

Embedded: two JobRunners (two runtimes, two SMTP connections) in two threads run each job
side by side. Redis: two ``aliasdesk worker`` processes (Dramatiq workers with their own
runner each) consume the same queue, and the relay sends every message twice. Both on
SQLite and PostgreSQL: the claim is a conditional UPDATE that must hold on both.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import select

from aliasdesk.db.models import Delivery, Job
from aliasdesk.relay import drain
from aliasdesk.runtime import Runtime
from tests.support.backends import REDIS_URL, broker_env, clear_namespace, namespaced_broker
from tests.support.harness import ROUTING, build_mail, feed, runtime_for
from tests.support.services import port_open, service_missing
from tests.support.smtp_script import ScriptedSmtpServer
from worker.actors import declare_actors

ALIASDESK_SCRIPT = Path(sys.executable).with_name("aliasdesk")
RACE_REDIS_URL = REDIS_URL.rsplit("/", 1)[0] + "/11"
"""A Redis database of its own, and in it this run's namespace (tests/support/backends.py)."""
REQUESTS = 4


@pytest.fixture
def runtime(database_url: str, smtp: ScriptedSmtpServer) -> Iterator[Runtime]:
    rt = runtime_for(database_url, smtp.port)
    yield rt
    rt.close()


def _feed_requests(runtime: Runtime) -> None:
    feed(
        runtime,
        *[build_mail(sender=f"p{i}@example.com", subject=f"request {i}") for i in range(REQUESTS)],
    )


def _assert_each_delivery_sent_once(runtime: Runtime, smtp: ScriptedSmtpServer) -> None:
    with runtime.db.reader() as session:
        deliveries = session.scalars(select(Delivery)).all()
        job_states = set(session.scalars(select(Job.state)))
    assert len(deliveries) == 2 * REQUESTS  # an acknowledgement and an assignment each
    assert {d.state for d in deliveries} == {"sent"} and job_states == {"done"}
    assert smtp.handler.commands.count("DATA") == len(deliveries)
    sent_ids = sorted(
        line.split(":", 1)[1].strip()
        for r in smtp.handler.received
        for line in r.data.decode().splitlines()
        if line.lower().startswith("message-id:")
    )
    assert sent_ids == sorted(d.message_id for d in deliveries)


def test_two_runners_in_two_threads_send_each_delivery_once(
    runtime: Runtime, smtp: ScriptedSmtpServer, database_url: str
) -> None:
    other = runtime_for(database_url, smtp.port)
    runners = [runtime.job_runner(), other.job_runner()]
    try:
        _feed_requests(runtime)
        with ThreadPoolExecutor(max_workers=2) as pool:

            def dispatch_twice(job_id: int, _kind: str) -> None:
                for done in [pool.submit(r.run, job_id) for r in runners]:
                    done.result()

            drain(runtime, dispatch_twice, max_wait=30)
    finally:
        other.close()
    _assert_each_delivery_sent_once(runtime, smtp)


def _start_worker(runtime: Runtime, port: int, workdir: Path, name: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALIASDESK_")}
    env.update(
        ALIASDESK_DATABASE_URL=runtime.db.url,
        ALIASDESK_BROKER_URL=RACE_REDIS_URL,
        ALIASDESK_ROUTING_FILE=str(ROUTING),
        ALIASDESK_SMTP_HOST="127.0.0.1",
        ALIASDESK_SMTP_PORT=str(port),
        ALIASDESK_SMTP_SECURITY="none",
        ALIASDESK_WORKER_THREADS="4",
        **broker_env(RACE_REDIS_URL),
    )
    log = (workdir / f"{name}.log").open("wb")
    return subprocess.Popen(
        [str(ALIASDESK_SCRIPT), "worker"],
        cwd=workdir,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def _wait_until_consuming(workdir: Path, workers: list[subprocess.Popen[bytes]]) -> None:
    """Both workers must be up before the first job, or there is no race to test."""
    deadline = time.monotonic() + 20
    logs = [workdir / f"worker-{n}.log" for n in range(1, len(workers) + 1)]
    while not all("mode=dramatiq" in log.read_text(errors="replace") for log in logs):
        if time.monotonic() > deadline or any(w.poll() is not None for w in workers):
            pytest.fail("the workers did not start: " + " | ".join(p.read_text() for p in logs))
        time.sleep(0.05)


def test_two_dramatiq_workers_over_redis_send_each_delivery_once(
    runtime: Runtime, smtp: ScriptedSmtpServer, tmp_path: Path
) -> None:
    if not port_open("127.0.0.1", 6379):
        service_missing("Redis", "nothing listens on 127.0.0.1:6379")
    clear_namespace(RACE_REDIS_URL)
    broker = namespaced_broker(RACE_REDIS_URL)
    actors = declare_actors(broker)
    workers = [_start_worker(runtime, smtp.port, tmp_path, f"worker-{n}") for n in (1, 2)]
    try:
        _wait_until_consuming(tmp_path, workers)
        _feed_requests(runtime)

        def dispatch_twice(job_id: int, kind: str) -> None:
            actors[kind].send(job_id)
            actors[kind].send(job_id)

        drain(runtime, dispatch_twice, max_wait=30)
        assert all(w.poll() is None for w in workers), "a worker died"
    finally:
        for w in workers:
            w.send_signal(signal.SIGTERM)
        for w in workers:
            w.wait(15)
        broker.close()
        clear_namespace(RACE_REDIS_URL)
    _assert_each_delivery_sent_once(runtime, smtp)
