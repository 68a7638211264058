"""Claims left behind by a process, for the takeover tests: real holder processes (one
killed, one running) and a request whose deliveries and jobs such a process holds."""

from __future__ import annotations

import email
import email.policy
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import psutil
from sqlalchemy import select, update

from aliasdesk.db.models import Delivery, Job
from aliasdesk.runtime import Runtime
from aliasdesk.services.delivery_batch import claim
from aliasdesk.services.holders import HolderId, host_name
from aliasdesk.services.outbox import claim_due_jobs
from tests.support.harness import build_mail, feed
from tests.support.smtp_script import ScriptedSmtpServer

__all__ = ["dead_process", "hold_one_request", "live_process", "sent_once_as_stored"]


def _start() -> tuple[subprocess.Popen[bytes], HolderId]:
    child = subprocess.Popen(["sleep", "120"])
    return child, HolderId(host_name(), child.pid, psutil.Process(child.pid).create_time())


@contextmanager
def live_process() -> Iterator[HolderId]:
    """A process on this host running for the whole block, named as a holder."""
    child, holder = _start()
    try:
        yield holder
    finally:
        child.kill()
        child.wait(10)


def dead_process() -> HolderId:
    """A process that ran on this host and was killed (SIGKILL) and reaped."""
    child, holder = _start()
    child.kill()
    child.wait(10)
    return holder


def hold_one_request(runtime: Runtime, holder: HolderId) -> list[Delivery]:
    """One request assigned, its deliveries claimed with their bytes stored and their jobs
    published (no broker told), all in ``holder``'s name: what a process killed mid-send
    leaves. Returns the claimed deliveries (detached)."""
    feed(runtime, build_mail())
    runner = runtime.job_runner()
    for job_id, kind in claim_due_jobs(runtime.db):
        if kind == "ticket_created":
            runner.run(job_id)
    published = claim_due_jobs(runtime.db)
    assert {kind for _, kind in published} == {"deliver"}
    config, now = runtime.routing.current(), datetime.now(UTC)
    with runtime.db.reader() as session:
        ids = list(session.scalars(select(Delivery.id).order_by(Delivery.id)))
    claimed = [claim(runtime.db, i, config, runtime.renderer, "aliasdesk", now) for i in ids]
    with runtime.db.unit_of_work() as session:
        session.execute(update(Delivery).values(holder=holder.name))
        session.execute(update(Job).where(Job.state == "published").values(holder=holder.name))
    assert claimed and all(d is not None and d.rendered for d in claimed)
    return [d for d in claimed if d is not None]


def sent_once_as_stored(claimed: list[Delivery], smtp: ScriptedSmtpServer) -> bool:
    """Whether each delivery reached the SMTP server exactly once, as its stored bytes
    with its own Message-ID."""
    for delivery in claimed:
        copies = [r.data for r in smtp.handler.received if delivery.recipient in r.rcpt_tos]
        if copies != [delivery.rendered]:
            return False
        message = email.message_from_bytes(copies[0], policy=email.policy.default)
        if message["Message-ID"] != delivery.message_id:
            return False
    return True
