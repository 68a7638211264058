"""The relay: committed outbox jobs handed to the workers, or run in-process on the
embedded broker, plus the SLA clock. Used by ``run``, ``gateway`` and ``worker``."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from aliasdesk.runtime import Runtime
from aliasdesk.services.alerts import queue_admin_alerts
from aliasdesk.services.outbox import claim_due_jobs, unfinished_jobs
from aliasdesk.services.sla import fire_due_timers

log = logging.getLogger("aliasdesk.relay")
Dispatch = Callable[[int, str], None]


def inline_dispatch(runtime: Runtime) -> Dispatch:
    runner = runtime.job_runner()

    def dispatch(job_id: int, _kind: str) -> None:
        runner.run(job_id)

    return dispatch


def relay_once(runtime: Runtime, dispatch: Dispatch) -> int:
    """Publish (or run) every due job; fire due SLA timers and queue admin alerts
    (quarantined mail, a refused routing file). Returns jobs handed over."""
    fire_due_timers(runtime.db, runtime.routing.current())
    queue_admin_alerts(runtime.db, runtime.routing, datetime.now(UTC))
    total = 0
    while jobs := claim_due_jobs(runtime.db):
        for job_id, kind in jobs:
            try:
                dispatch(job_id, kind)
            except Exception:
                log.exception("event=dispatch_failed job=%s", job_id)
        total += len(jobs)
    return total


def drain(
    runtime: Runtime,
    dispatch: Dispatch,
    *,
    max_wait: float = 120.0,
    settle: Callable[[], bool] | None = None,
) -> int:
    """Run jobs until none is left (waiting for retries that fall due within max_wait)."""
    deadline = time.monotonic() + max_wait
    total = 0
    while True:
        total += relay_once(runtime, dispatch)
        remaining, _next_due = unfinished_jobs(runtime.db)
        if remaining == 0 and (settle is None or settle()):
            return total
        if time.monotonic() > deadline:
            log.warning("event=drain_timeout unfinished=%s", remaining)
            return total
        time.sleep(0.05)


def relay_forever(
    runtime: Runtime, dispatch: Dispatch, stop: threading.Event, interval: float = 0.2
) -> None:
    while not stop.is_set():
        try:
            if relay_once(runtime, dispatch) == 0:
                stop.wait(interval)
        except Exception:
            log.exception("event=relay_error")
            stop.wait(min(5.0, interval * 10))
