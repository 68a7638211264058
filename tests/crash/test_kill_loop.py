"""kill -9, over and over: gateway and worker as separate processes on a real Dovecot
mailbox, SIGKILLed at random moments while mail keeps arriving, restarted each time.

Afterwards, from the user's side: every mail has exactly one real entry in ``aliasdesk mail
list``, every new request exactly one ticket, every reply an update of its ticket, every
requester one acknowledgement, and any mail sent twice was sent with the same Message-ID
and the very same bytes (STYLE.md, the crash story, step 5).

Default: 60 mails and 8 kill rounds per backend pair. ALIASDESK_RELIABILITY_FULL=1: 500
mails and 60 kill rounds. ALIASDESK_KILL_SEED replays one run's kill schedule.
"""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

import pytest

from gateway.local_servers import SmtpSink
from tests.crash.conftest import Backends
from tests.crash.procs import (
    FULL,
    AliasdeskProcess,
    Fleet,
    Workload,
    aliasdesk_env,
    full_audit,
    migrate,
    settle_budget,
    wait_until,
)
from tests.reliability_report import record
from tests.support.dovecot import DovecotServer

pytestmark = pytest.mark.dovecot

MAILS, ROUNDS = (500, 60) if FULL else (60, 8)


def _chunks(total: int, parts: int) -> list[int]:
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def test_kill_gateway_and_worker_at_random_moments(
    dovecot_server: DovecotServer, smtp_sink: SmtpSink, backends: Backends, log_dir: Path
) -> None:
    seed = int(os.environ.get("ALIASDESK_KILL_SEED", str(time.time_ns() % 1_000_000)))
    rng = random.Random(seed)
    env = aliasdesk_env(
        database_url=backends.database_url,
        broker_url=backends.broker_url,
        imap=dovecot_server,
        smtp_port=smtp_sink.port,
    )
    migrate(env)
    fleet = Fleet(
        [AliasdeskProcess("gateway", env, log_dir), AliasdeskProcess("worker", env, log_dir)],
        rng=rng,
    )
    workload = Workload(rng=random.Random(seed))
    fleet.start()
    started = time.monotonic()
    rounds = 0
    try:
        for chunk in _chunks(MAILS, ROUNDS):
            dovecot_server.append_many(workload.next_mails(chunk))
            # Anywhere from mid start-up to mid-batch to idle.
            time.sleep(rng.uniform(0.1, 2.0))
            fleet.kill_at_random()
            rounds += 1
        killed_for = time.monotonic() - started
        settled = wait_until(lambda: backends.progress.settled(MAILS), settle_budget(120), 0.5)
        settle_s = time.monotonic() - started - killed_for
        # Let it run on a little: a late second send would show up now.
        time.sleep(2.0)
        crashed = fleet.crashed()
    finally:
        fleet.stop()
    audit = full_audit(env, workload, smtp_sink.messages)
    record(
        f"kill-loop {backends.label}",
        "kill",
        kills=fleet.kills,
        rounds=rounds,
        seed=seed,
        settle_s=round(settle_s, 2),
        notes=f"seed={seed} requests={len(workload.requests)} replies={len(workload.replies)}",
        **audit.figures(),
    )
    assert not crashed, f"exited by themselves: {crashed}\n{fleet.logs()}"
    assert settled, (
        f"not settled (seed {seed}): stored={backends.progress.stored()} "
        f"waiting={backends.progress.waiting()} jobs={backends.progress.unfinished_jobs()} "
        f"unsent={backends.progress.unsent()}\n{fleet.logs()}"
    )
    assert audit.problems() == {}, f"seed {seed}: {audit.problems()}"
    assert fleet.kills >= ROUNDS
