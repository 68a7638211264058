"""Load: a stream of mail arriving while the gateway runs; none lost, memory flat, backlog
drained. A background thread APPENDs to Dovecot in batches while ``aliasdesk gateway`` and
``aliasdesk worker`` run; the gateway's RSS is sampled with psutil throughout.

Default 600 mails (the default run of tests/crash and tests/faults must stay within about
four minutes; this machine's gateway plus worker on SQLite take in 12-20 mails/s end to
end), ALIASDESK_LOAD_MAILS to choose; ALIASDESK_RELIABILITY_FULL=1: 10,000.
"""

from __future__ import annotations

import os
import statistics
import threading
import time
from pathlib import Path

import psutil
import pytest

from gateway.local_servers import SmtpSink
from tests.crash.procs import (
    FULL,
    Audit,
    audit_inbound,
    audit_sent,
    cli_json,
    parse_sent,
    scenario,
)
from tests.reliability_report import record
from tests.support.dovecot import DovecotServer

pytestmark = pytest.mark.dovecot

MAILS = int(os.environ.get("ALIASDESK_LOAD_MAILS", "0")) or (10_000 if FULL else 600)
BATCH = 100
# Allowed growth of the gateway's RSS from the warmed-up level to the end of the run.
RSS_GROWTH_LIMIT_MB = 80.0


def test_backlog_under_load(
    dovecot_server: DovecotServer, smtp_sink: SmtpSink, tmp_path: Path, log_dir: Path
) -> None:
    system = scenario(
        roles=["gateway", "worker"],
        database_url=f"sqlite:///{tmp_path}/a.db",
        broker_url="embedded",
        imap=dovecot_server,
        sink=smtp_sink,
        log_dir=log_dir,
    )
    gateway = psutil.Process(system.fleet.members[0].pid)
    batches = [
        system.workload.next_mails(min(BATCH, MAILS - start), reply_share=0.2)
        for start in range(0, MAILS, BATCH)
    ]
    appended = threading.Event()

    def deliver() -> None:
        for batch in batches:
            dovecot_server.append_many(batch)
            time.sleep(0.2)
        appended.set()

    feeder = threading.Thread(target=deliver, daemon=True)
    started = time.monotonic()
    feeder.start()
    samples: list[tuple[int, float]] = []  # (mails stored, RSS MB)
    deadline = started + (1800 if FULL else 240)
    try:
        while time.monotonic() < deadline:
            samples.append((system.progress.stored(), gateway.memory_info().rss / 2**20))
            if appended.is_set() and system.progress.settled(MAILS):
                break
            time.sleep(0.5)
        feeder.join(timeout=5)
        elapsed = time.monotonic() - started
        settled = system.progress.settled(MAILS)
        tickets_stored = system.progress.tickets()
        crashed = system.fleet.crashed()
    finally:
        system.fleet.stop()
    entries = cli_json(system.env, "mail", "list", "--limit", "1000000")
    audit = Audit()
    audit_inbound(entries, system.workload.message_ids, audit)
    audit_sent(parse_sent(smtp_sink.messages), system.workload.requests, audit)
    system.progress.close()
    warm = [rss for stored, rss in samples if stored >= MAILS // 10] or [samples[-1][1]]
    baseline, peak_late = statistics.median(warm[: max(1, len(warm) // 4)]), max(warm)
    record(
        "load: mail arriving while running",
        "load",
        settle_s=round(elapsed, 2),
        notes=(
            f"rate={MAILS / elapsed:.0f}/s rss_start={baseline:.0f}MB "
            f"rss_peak={peak_late:.0f}MB tickets={tickets_stored}"
        ),
        **audit.figures(),
    )
    assert not crashed, system.fleet.logs()
    assert settled, system.why_not_settled()
    assert audit.problems() == {}, audit.problems()
    assert tickets_stored == len(system.workload.requests)
    assert peak_late - baseline <= RSS_GROWTH_LIMIT_MB, (baseline, peak_late)
