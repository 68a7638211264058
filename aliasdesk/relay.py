"""The relay: committed outbox jobs handed to the workers, or run in-process on the
embedded broker, plus the SLA clock and the daily digests. Used by ``run``, ``gateway``
and ``worker``."""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from aliasdesk.claim_sizes import ALONE, CLAIM_BATCH, ClaimSize
from aliasdesk.runtime import Runtime
from aliasdesk.services.alerts import queue_admin_alerts
from aliasdesk.services.jobs import JobRunner
from aliasdesk.services.outbox import claim_due_jobs, unfinished_jobs
from aliasdesk.services.sla import fire_due_timers

log = logging.getLogger("aliasdesk.relay")
Dispatch = Callable[[int, str], None]
__all__ = ["CLAIM_BATCH", "ClaimSize", "Share", "drain", "inline_dispatch", "relay_forever"]


class InlineDispatch:
    """The embedded broker: jobs run right here, a whole claimed batch at a time."""

    def __init__(self, runner: JobRunner) -> None:
        self.runner = runner

    def __call__(self, job_id: int, _kind: str) -> None:
        self.runner.run(job_id)

    def many(self, jobs: Sequence[tuple[int, str]]) -> None:
        self.runner.run_many([job_id for job_id, _ in jobs])


def inline_dispatch(runtime: Runtime) -> InlineDispatch:
    return InlineDispatch(runtime.job_runner())


class Share(enum.Enum):
    """What of the relay's work one process does. A lone process does all of it, and so
    does the process ``run --processes N`` takes the mail in with: the rounds (so a
    refused routing file is reported, and timers, alerts, digests and reports go out, from
    exactly one process, the one an admin watches) and its part of the jobs. Its job
    processes do only the ``JOBS``."""

    ALL = "all"
    JOBS = "jobs"


def relay_once(
    runtime: Runtime,
    dispatch: Dispatch,
    claims: ClaimSize = ALONE,
    share: Share = Share.ALL,
) -> int:
    """Publish (or run) every due job; fire due SLA timers, queue admin alerts
    (quarantined mail, a refused routing file), the members' morning digests and the
    leads' weekly reports and, once a day, anonymise the closed tickets past their
    department's retention (each of the three a look of no query until it is next due).
    Returns jobs handed over."""
    if share is not Share.JOBS:
        scheduled_rounds(runtime)
    return run_due_jobs(runtime, dispatch, claims)


def scheduled_rounds(runtime: Runtime) -> None:
    """The relay's work that is not a job: it looks at the routing file too (through
    ``routing.current``), so a refused edit is logged even while no mail comes in."""
    fire_due_timers(runtime.db, runtime.routing.current())
    now = datetime.now(UTC)
    queue_admin_alerts(runtime.db, runtime.routing, now)
    for rounds in (runtime.digests, runtime.weekly_reports):
        try:
            rounds.run(runtime.db, runtime.routing.current(), now)
        except Exception:  # a digest or report that cannot be made must not stop mail
            log.exception("event=scheduled_mail_failed rounds=%s", type(rounds).__name__)
    _retention(runtime)


def run_due_jobs(runtime: Runtime, dispatch: Dispatch, claims: ClaimSize = ALONE) -> int:
    """Claim due jobs (``claims``: how many at a time) and run (or publish) them until
    none is due."""
    total = 0
    many = getattr(dispatch, "many", None)
    while jobs := claim_due_jobs(runtime.db, claims):
        if many is not None:
            try:
                many(jobs)
            except Exception:  # the jobs stay published and come back after the lease
                log.exception("event=dispatch_failed jobs=%d", len(jobs))
        else:
            for job_id, kind in jobs:
                try:
                    dispatch(job_id, kind)
                except Exception:
                    log.exception("event=dispatch_failed job=%s", job_id)
        total += len(jobs)
    return total


def _retention(runtime: Runtime) -> None:
    config, now = runtime.routing.current(), datetime.now(UTC)
    anonymised = runtime.retention.run(runtime.db, config, now)
    if anonymised:
        log.info("event=retention anonymised=%s", ",".join(anonymised))


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
    runtime: Runtime,
    dispatch: Dispatch,
    stop: threading.Event,
    interval: float = 0.2,
    wake: threading.Event | None = None,
    claims: ClaimSize = ALONE,
    share: Share = Share.ALL,
) -> None:
    """Relay (its ``share`` of the work) until ``stop``; idle, look again after
    ``interval``, or as soon as ``wake`` is set (an intake that just committed jobs should
    not wait out the interval)."""
    idle = wake if wake is not None else stop
    while not stop.is_set():
        try:
            if relay_once(runtime, dispatch, claims, share) == 0:
                idle.wait(interval)
                if wake is not None:
                    wake.clear()
        except Exception:
            log.exception("event=relay_error")
            stop.wait(min(5.0, interval * 10))
