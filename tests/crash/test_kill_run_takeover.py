"""``aliasdesk run`` SIGKILLed mid-work over and over, then ``run --once``: what the dead
runs held is finished at once, not when their leases run out.

The leases are the real ones (120 s for a claimed delivery, 180 s for a published job), so
anything sent within the test's bound was taken over because its holder was dead. The last
kill lands while a mail is in the SMTP server's DATA (the server stalls it), so that run
certainly dies holding a claim. ``run --once`` must then finish every outstanding
acknowledgement before it exits, well inside the lease, with no ticket doubled and any
mail sent twice sent as the very same bytes (STYLE.md, the crash story, step 5).

Default: 40 mails and 5 kills per backend pair; ALIASDESK_RELIABILITY_FULL=1: 300 mails
and 25 kills. ALIASDESK_KILL_SEED replays one run's kill moments.
"""

from __future__ import annotations

import os
import random
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from aliasdesk.db.models import Delivery
from aliasdesk.db.session import Database
from tests.crash.conftest import Backends
from tests.crash.procs import (
    FULL,
    ROOT,
    AliasdeskProcess,
    Fleet,
    Workload,
    aliasdesk_env,
    command_for,
    full_audit,
    migrate,
    wait_until,
)
from tests.reliability_report import record
from tests.support.dovecot import DovecotServer
from tests.support.smtp_script import STALL, ScriptedSmtpServer

pytestmark = pytest.mark.dovecot

MAILS, KILLS = (300, 25) if FULL else (40, 5)
CLAIM_LEASE, PUBLISH_LEASE = 120, 180
PROMPT = CLAIM_LEASE / 2
"""``run --once`` must be done well inside the lease: half of it, on a busy machine."""


def _deliveries(database_url: str) -> list[tuple[str, str, datetime | None]]:
    """(kind, state, sent_at) of every delivery, read as the models type them."""
    db = Database(database_url)
    try:
        with db.reader() as session:
            rows = session.execute(select(Delivery.kind, Delivery.state, Delivery.sent_at))
            return [(kind, state, sent_at) for kind, state, sent_at in rows]
    finally:
        db.dispose()


def _acks(database_url: str) -> tuple[int, datetime | None]:
    """How many acknowledgements went out, and when the last one did."""
    stamps = [
        sent_at
        for kind, state, sent_at in _deliveries(database_url)
        if kind == "acknowledgement" and state == "sent" and sent_at is not None
    ]
    return len(stamps), max(stamps, default=None)


def _kill_mid_send(run: AliasdeskProcess, smtp: ScriptedSmtpServer) -> None:
    """Kill the run while the SMTP server sits on a DATA it will never answer."""
    smtp.handler.fail_next("DATA", STALL)
    stalled = wait_until(lambda: not smtp.handler.script.get("DATA"), 90, 0.02)
    run.kill()
    assert stalled, f"no mail reached DATA before the last kill\n{run.log_tail()}"


def test_run_once_after_kills_finishes_what_the_dead_runs_held(
    dovecot_server: DovecotServer, smtp: ScriptedSmtpServer, backends: Backends, log_dir: Path
) -> None:
    seed = int(os.environ.get("ALIASDESK_KILL_SEED", str(time.time_ns() % 1_000_000)))
    rng = random.Random(seed)
    env = aliasdesk_env(
        database_url=backends.database_url,
        broker_url=backends.broker_url,
        imap=dovecot_server,
        smtp_port=smtp.port,
        ALIASDESK_CLAIM_LEASE_SECONDS=str(CLAIM_LEASE),
        ALIASDESK_PUBLISH_LEASE_SECONDS=str(PUBLISH_LEASE),
    )
    migrate(env)
    run = AliasdeskProcess("run", env, log_dir)
    fleet, workload = Fleet([run], rng=rng), Workload(rng=random.Random(seed))
    chunk = MAILS // KILLS
    fleet.start()
    try:
        for _ in range(KILLS - 1):
            dovecot_server.append_many(workload.next_mails(chunk))
            time.sleep(rng.uniform(0.1, 2.0))  # mid start-up, mid-batch or idle
            fleet.kill_at_random()
        dovecot_server.append_many(workload.next_mails(MAILS - chunk * (KILLS - 1)))
        _kill_mid_send(run, smtp)
    finally:
        fleet.stop()
    progress = backends.progress
    held = sum(state == "sending" for _, state, _ in _deliveries(backends.database_url))
    acks_before, _ = _acks(backends.database_url)
    outstanding = len(workload.requests) - acks_before

    restarted = datetime.now(UTC)
    once = subprocess.run(
        [*command_for("run"), "--once"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=CLAIM_LEASE * 2,
    )
    once_s = (datetime.now(UTC) - restarted).total_seconds()
    settled = progress.settled(len(workload.message_ids))
    acks_after, last_ack = _acks(backends.database_url)
    last_ack_s = (last_ack - restarted).total_seconds() if last_ack else None
    audit = full_audit(env, workload, list(smtp.handler.received))
    record(
        f"kill-run-takeover {backends.label}",
        "kill",
        kills=fleet.kills,
        seed=seed,
        recovery_s=round(last_ack_s or 0.0, 2),
        settle_s=round(once_s, 2),
        notes=f"held={held} outstanding_acks={outstanding} requests={len(workload.requests)}",
        **audit.figures(),
    )
    assert once.returncode == 0, once.stderr[-3000:]
    assert held >= 1 and outstanding >= 1, "the last kill left nothing to take over"
    assert settled, (
        f"run --once left work behind (seed {seed}): unsent={progress.unsent()} "
        f"jobs={progress.unfinished_jobs()}\n{once.stderr[-5000:]}"
    )
    assert acks_after == len(workload.requests)
    assert once_s < PROMPT, f"run --once took {once_s:.1f} s (seed {seed})\n{once.stderr[-5000:]}"
    assert audit.problems() == {}, f"seed {seed}: {audit.problems()}"
    assert fleet.kills == KILLS
