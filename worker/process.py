"""The ``aliasdesk worker`` process: Dramatiq workers over the configured broker, or, on
the embedded broker, a loop draining the outbox table (durable, no server needed)."""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from aliasdesk.claim_sizes import ALONE, ClaimSize
from aliasdesk.relay import Share, inline_dispatch, relay_forever
from aliasdesk.runtime import Runtime
from aliasdesk.services.takeover import watching
from aliasdesk.settings.environment import environment_count
from worker.embedded import is_embedded

if TYPE_CHECKING:  # Dramatiq is loaded only where a broker is configured
    import dramatiq

log = logging.getLogger("aliasdesk.worker")


def start_dramatiq_worker(
    runtime: Runtime, broker: dramatiq.Broker, threads: int = 4
) -> dramatiq.Worker:
    from dramatiq import Worker

    from worker.actors import install_runner

    install_runner(runtime.job_runner())
    worker = Worker(
        broker,
        worker_threads=threads,
        worker_timeout=environment_count("ALIASDESK_WORKER_IDLE_MS", 100),
    )
    worker.start()
    return worker


def run_worker(
    runtime: Runtime,
    stop: threading.Event,
    claims: ClaimSize = ALONE,
    share: Share = Share.ALL,
) -> int:
    """The workers, with this process's heartbeat and takeover of dead holders' claims;
    ``claims``: jobs per claim on the embedded broker; ``share``: only the jobs for a job
    process of ``run``, whose parent does the rounds."""
    with watching(runtime.db):
        return _run_worker(runtime, stop, claims, share)


def _run_worker(runtime: Runtime, stop: threading.Event, claims: ClaimSize, share: Share) -> int:
    if is_embedded(runtime.settings.broker_url):
        log.info("event=worker mode=embedded")
        relay_forever(runtime, inline_dispatch(runtime), stop, claims=claims, share=share)
        return 0
    from worker.actors import declare_actors
    from worker.broker import make_broker

    broker = make_broker(runtime.settings.broker_url, runtime.settings.broker_namespace)
    declare_actors(broker)
    worker = start_dramatiq_worker(
        runtime, broker, threads=environment_count("ALIASDESK_WORKER_THREADS", 4)
    )
    log.info("event=worker mode=dramatiq broker=%s", type(broker).__name__)
    stop.wait()
    worker.stop()
    return 0
