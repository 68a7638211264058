"""More than one process at the same work: nothing is processed or sent twice.

- Two gateway processes on one Dovecot mailbox and one PostgreSQL database (both also relay
  and run jobs on the embedded broker): each mail has exactly one real entry in the inbound
  log, each request one ticket and one acknowledgement.
- Four worker processes on one Redis queue behind one gateway: no mail is sent twice.

Default: 40 mails each; ALIASDESK_RELIABILITY_FULL=1: 500.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from gateway.local_servers import SmtpSink
from tests.crash.procs import FULL, Scenario, scenario
from tests.reliability_report import record
from tests.support.dovecot import DovecotServer

pytestmark = pytest.mark.dovecot

MAILS = 500 if FULL else 40


def _run_and_check(system: Scenario, name: str, waves: int) -> None:
    for _ in range(waves):
        system.feed(MAILS // waves)
        time.sleep(0.3)
    settle_s = system.settle(180)
    time.sleep(1.5)
    crashed = system.fleet.crashed()
    system.fleet.stop()
    audit = system.audit()
    system.progress.close()
    record(
        name,
        "concurrency",
        settle_s=None if settle_s is None else round(settle_s, 2),
        notes=f"processes={len(system.fleet.members)}",
        **audit.figures(),
    )
    assert not crashed, f"exited by themselves: {crashed}\n{system.fleet.logs()}"
    assert settle_s is not None, system.why_not_settled()
    assert audit.problems() == {}, audit.problems()
    # No process died here, so nothing had a reason to be sent a second time.
    assert audit.same_id_resends == 0


def test_two_gateways_on_one_mailbox(
    dovecot_server: DovecotServer,
    smtp_sink: SmtpSink,
    postgres_db: tuple[str, str],
    log_dir: Path,
) -> None:
    system = scenario(
        roles=["gateway", "gateway"],
        database_url=postgres_db[1],
        broker_url="embedded",
        imap=dovecot_server,
        sink=smtp_sink,
        log_dir=log_dir,
    )
    _run_and_check(system, "two gateways, one mailbox (postgresql)", waves=4)


def test_four_workers_on_one_redis_queue(
    dovecot_server: DovecotServer,
    smtp_sink: SmtpSink,
    postgres_db: tuple[str, str],
    redis_db: str,
    log_dir: Path,
) -> None:
    system = scenario(
        roles=["gateway", "worker", "worker", "worker", "worker"],
        database_url=postgres_db[1],
        broker_url=redis_db,
        imap=dovecot_server,
        sink=smtp_sink,
        log_dir=log_dir,
    )
    _run_and_check(system, "four workers, one redis queue", waves=4)
