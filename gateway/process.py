"""Process entry points: ``run`` (gateway and worker together) and ``gateway`` alone."""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import dramatiq

from aliasdesk.relay import Dispatch, drain, inline_dispatch, relay_forever
from aliasdesk.runtime import Runtime
from aliasdesk.services.delivery import render_failures
from aliasdesk.services.takeover import Watch, watching
from gateway.imap import ImapConfig
from gateway.poller import MailboxPoller
from gateway.service import Intake, StateReports, imap_config

log = logging.getLogger("aliasdesk.gateway")
SHOWN_FAILURES = 10


def make_poller(
    runtime: Runtime, intake: Intake, config: ImapConfig | None = None
) -> MailboxPoller:
    settings = runtime.settings
    config = config or imap_config(runtime)
    reports = StateReports(runtime, config)
    reports.watch_routing()
    return MailboxPoller(
        config,
        intake,
        poll_interval=settings.imap_poll_interval,
        batch_size=settings.imap_batch_size,
        max_mail_bytes=settings.max_mail_bytes,
        known_high_uid=runtime.known_high_uid,
        on_error=reports.failed,
        on_connect=reports.connected,
    )


def broker_dispatch(runtime: Runtime) -> tuple[Dispatch, dramatiq.Broker | None]:
    """How jobs reach workers: in-process on the embedded broker, else through Dramatiq."""
    from worker.broker import is_embedded

    if is_embedded(runtime.settings.broker_url):
        return inline_dispatch(runtime), None
    from worker.actors import declare_actors
    from worker.broker import make_broker

    broker = make_broker(runtime.settings.broker_url, runtime.settings.broker_namespace)
    return DramatiqDispatch(declare_actors(broker), broker), broker


class DramatiqDispatch:
    """Jobs as Dramatiq messages: single ids, or a claimed batch cut into slices so that
    several workers share it."""

    SLICE = 20

    def __init__(self, actors: dict[str, dramatiq.Actor[[int], None]], broker: dramatiq.Broker):
        self.actors = actors
        self.batch = broker.get_actor("run_jobs")

    def __call__(self, job_id: int, kind: str) -> None:
        self.actors[kind].send(job_id)

    def many(self, jobs: Sequence[tuple[int, str]]) -> None:
        ids = [job_id for job_id, _ in jobs]
        for start in range(0, len(ids), self.SLICE):
            self.batch.send(ids[start : start + self.SLICE])


def run_all(runtime: Runtime, *, once: bool, stop: threading.Event | None) -> int:
    intake = Intake(runtime)
    poller = make_poller(runtime, intake)
    dispatch, broker = broker_dispatch(runtime)
    worker = None
    # First a takeover pass: ``run --once`` after a crash also finishes what the dead held.
    watch = Watch(runtime.db)
    watch.start()
    if broker is not None:
        from worker.process import start_dramatiq_worker

        worker = start_dramatiq_worker(runtime, broker)
    try:
        if once:
            earlier = render_failures(runtime.db)
            poller.run_once()
            drain(runtime, dispatch)
            return _once_outcome(runtime, earlier)
        assert stop is not None
        with _metrics(runtime):
            relay = threading.Thread(
                target=relay_forever, args=(runtime, dispatch, stop), name="relay", daemon=True
            )
            relay.start()
            poller.run_forever(stop)
            relay.join(timeout=5)
        return 0
    finally:
        watch.stop()
        if worker is not None:
            worker.stop()


def _once_outcome(runtime: Runtime, earlier: dict[int, str]) -> int:
    """0, or 1 when mail of this run could not be rendered: a cron job running
    ``run --once`` must hear that mail went unsent, not see success."""
    failures = [text for key, text in render_failures(runtime.db).items() if key not in earlier]
    if not failures:
        return 0
    print(
        f"aliasdesk: {len(failures)} mail(s) could not be rendered and were not sent:",
        file=sys.stderr,
    )
    for text in failures[:SHOWN_FAILURES]:
        print(f"  {text}", file=sys.stderr)
    if len(failures) > SHOWN_FAILURES:
        print(f"  ... and {len(failures) - SHOWN_FAILURES} more", file=sys.stderr)
    return 1


def run_gateway(runtime: Runtime, stop: threading.Event) -> int:
    """IMAP intake plus the relay; with the embedded broker the relay also runs the jobs."""
    dispatch, _broker = broker_dispatch(runtime)
    relay = threading.Thread(
        target=relay_forever, args=(runtime, dispatch, stop), name="relay", daemon=True
    )
    with watching(runtime.db), _metrics(runtime):
        relay.start()
        make_poller(runtime, Intake(runtime)).run_forever(stop)
        relay.join(timeout=5)
    return 0


@contextmanager
def _metrics(runtime: Runtime) -> Iterator[None]:
    """Prometheus text on 127.0.0.1:ALIASDESK_METRICS_PORT while the gateway runs."""
    port = runtime.settings.metrics_port
    if not port:
        yield
        return
    from aliasdesk.metrics import start_metrics_server

    stop = start_metrics_server(runtime.db, port)
    try:
        yield
    finally:
        stop()
