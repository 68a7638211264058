"""Process entry points: ``run`` (gateway and worker together) and ``gateway`` alone."""

from __future__ import annotations

import logging
import threading

import dramatiq

from aliasdesk.relay import Dispatch, drain, inline_dispatch, relay_forever
from aliasdesk.runtime import Runtime
from gateway.imap import ImapConfig
from gateway.poller import MailboxPoller
from gateway.service import Intake, imap_config

log = logging.getLogger("aliasdesk.gateway")


def make_poller(
    runtime: Runtime, intake: Intake, config: ImapConfig | None = None
) -> MailboxPoller:
    settings = runtime.settings
    return MailboxPoller(
        config or imap_config(runtime),
        intake,
        poll_interval=settings.imap_poll_interval,
        batch_size=settings.imap_batch_size,
        known_high_uid=runtime.known_high_uid,
    )


def broker_dispatch(runtime: Runtime) -> tuple[Dispatch, dramatiq.Broker | None]:
    """How jobs reach workers: in-process on the embedded broker, else through Dramatiq."""
    from worker.broker import is_embedded

    if is_embedded(runtime.settings.broker_url):
        return inline_dispatch(runtime), None
    from worker.actors import declare_actors
    from worker.broker import make_broker

    broker = make_broker(runtime.settings.broker_url)
    actors = declare_actors(broker)

    def dispatch(job_id: int, kind: str) -> None:
        actors[kind].send(job_id)

    return dispatch, broker


def run_all(runtime: Runtime, *, once: bool, stop: threading.Event | None) -> int:
    intake = Intake(runtime)
    poller = make_poller(runtime, intake)
    dispatch, broker = broker_dispatch(runtime)
    worker = None
    if broker is not None:
        from worker.process import start_dramatiq_worker

        worker = start_dramatiq_worker(runtime, broker)
    try:
        if once:
            poller.run_once()
            drain(runtime, dispatch)
            return 0
        assert stop is not None
        relay = threading.Thread(
            target=relay_forever, args=(runtime, dispatch, stop), name="relay", daemon=True
        )
        relay.start()
        poller.run_forever(stop)
        relay.join(timeout=5)
        return 0
    finally:
        if worker is not None:
            worker.stop()


def run_gateway(runtime: Runtime, stop: threading.Event) -> int:
    """IMAP intake plus the relay; with the embedded broker the relay also runs the jobs."""
    dispatch, _broker = broker_dispatch(runtime)
    relay = threading.Thread(
        target=relay_forever, args=(runtime, dispatch, stop), name="relay", daemon=True
    )
    relay.start()
    make_poller(runtime, Intake(runtime)).run_forever(stop)
    relay.join(timeout=5)
    return 0
