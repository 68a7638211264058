"""The gateway process: the IMAP poller feeding the intake, and the relay that hands
committed outbox jobs to the workers (or runs them in-process on the embedded broker)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from aliasdesk.runtime import Runtime
from aliasdesk.services.intake import RawMail, process_pending, store_raw
from aliasdesk.services.outbox import claim_due_jobs, unfinished_jobs
from aliasdesk.services.sla import fire_due_timers
from gateway.imap import FetchedMail, ImapConfig

log = logging.getLogger("aliasdesk.gateway")
Dispatch = Callable[[int, str], None]


def imap_config(runtime: Runtime) -> ImapConfig:
    s = runtime.settings
    if not s.imap_host:
        raise RuntimeError("ALIASDESK_IMAP_HOST is not set: no mailbox to read")
    return ImapConfig(
        host=s.imap_host,
        port=s.imap_port,
        username=s.imap_username or "",
        password=s.imap_password or "",
        security=s.imap_security,
        folder=s.imap_folder,
        processed_folder=s.imap_processed_folder,
    )


@dataclass
class Intake:
    """The poller's batch handler: store raw bytes, process, report what is committed."""

    runtime: Runtime
    send_mail: bool = True
    counts: dict[str, int] = field(default_factory=dict)

    def __call__(self, mailbox: str, uidvalidity: int, mails: list[FetchedMail]) -> list[int]:
        stored = store_raw(
            self.runtime.db,
            source="imap",
            mailbox=mailbox,
            uidvalidity=uidvalidity,
            mails=[RawMail(m.raw, m.uid) for m in mails],
            send_mail=self.send_mail,
        )
        for result in process_pending(
            self.runtime.db, self.runtime.routing.current, self.runtime.pipeline_settings
        ):
            self.counts[result.outcome] = self.counts.get(result.outcome, 0) + 1
            log.info(
                "event=mail inbound=%s outcome=%s tickets=%s",
                result.inbound_id,
                result.outcome,
                ",".join(result.ticket_refs),
            )
        return [uid for uid in stored if uid is not None]


def inline_dispatch(runtime: Runtime) -> Dispatch:
    runner = runtime.job_runner()

    def dispatch(job_id: int, _kind: str) -> None:
        runner.run(job_id)

    return dispatch


def relay_once(runtime: Runtime, dispatch: Dispatch) -> int:
    """Publish (or run) every due job; fire due SLA timers. Returns jobs handed over."""
    fire_due_timers(runtime.db, runtime.routing.current())
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
