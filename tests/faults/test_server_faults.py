"""The servers around aliasdesk fail; aliasdesk recovers by itself and loses nothing.

Each scenario runs real ``aliasdesk`` processes against real servers, breaks one server
the way it breaks in production, and measures the time from the end of the fault until
everything sent during it is processed and acknowledged (written to the reliability report):

- Dovecot killed (every process of the instance) and started again on the same maildir;
- PostgreSQL connections of the gateway cut (``pg_terminate_backend`` on the test's own
  database: restarting the shared server would break everybody else's tests);
- Redis losing its queued jobs (every key of this test run's own namespace deleted);
- SMTP answering 451 for a while, then accepting;
- SMTP dropping the connection after the mail's data, before its reply.
"""

from __future__ import annotations

import time
from pathlib import Path

import psycopg
import pytest

from gateway.local_servers import SmtpSink
from tests.crash.procs import Scenario, scenario, wait_until
from tests.reliability_report import record
from tests.support.backends import PG_ADMIN, clear_namespace, namespace_keys
from tests.support.dovecot import DovecotServer
from tests.support.smtp_script import DROP, ScriptedSmtpServer

pytestmark = pytest.mark.dovecot


def _finish(system: Scenario, name: str, recovery_s: float | None, **notes: object) -> None:
    """Stop, audit from the user's side, report, and assert nothing was lost or doubled."""
    time.sleep(1.0)
    crashed = system.fleet.crashed()
    system.fleet.stop()
    audit = system.audit()
    system.progress.close()
    record(
        name,
        "fault",
        recovered=recovery_s is not None and not audit.problems() and not crashed,
        recovery_s=None if recovery_s is None else round(recovery_s, 2),
        notes=" ".join(f"{k}={v}" for k, v in notes.items()),
        **audit.figures(),
    )
    assert not crashed, f"exited by themselves: {crashed}\n{system.fleet.logs()}"
    assert recovery_s is not None, system.why_not_settled()
    assert audit.problems() == {}, audit.problems()


def test_dovecot_restart_mid_run(
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
    system.feed(15)
    assert system.settle(60) is not None, system.why_not_settled()
    dovecot_server.stop()
    time.sleep(3.0)  # the gateway meets a dead server: refused connections, backoff
    dovecot_server.start()
    system.feed(15)  # appended after the restart: picked up without any help
    recovery = system.settle(90)
    _finish(system, "dovecot restarted", recovery, down_s=3)


def test_database_connections_cut(
    dovecot_server: DovecotServer,
    smtp_sink: SmtpSink,
    postgres_db: tuple[str, str],
    log_dir: Path,
) -> None:
    name, url = postgres_db
    system = scenario(
        roles=["gateway", "worker"],
        database_url=url,
        broker_url="embedded",
        imap=dovecot_server,
        sink=smtp_sink,
        log_dir=log_dir,
    )
    # Cut while they work, not while they start: a process that cannot reach its database
    # at start-up stops with the error, and its supervisor starts it again.
    assert system.fleet.wait_up(), system.fleet.logs()
    cut = 0
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        for _ in range(4):
            system.feed(10)
            time.sleep(0.4)  # mid-batch, mid-send, or idle
            rows = admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            ).fetchall()
            cut += len(rows)
    recovery = system.settle(90)
    assert cut > 0, "no connection of the test database was open to cut"
    _finish(system, "postgresql connections terminated", recovery, connections_cut=cut)


def test_redis_loses_published_jobs(
    dovecot_server: DovecotServer,
    smtp_sink: SmtpSink,
    postgres_db: tuple[str, str],
    redis_db: str,
    log_dir: Path,
) -> None:
    _name, url = postgres_db
    # Only the gateway at first: its jobs wait in Redis with no worker to take them.
    system = scenario(
        roles=["gateway"],
        database_url=url,
        broker_url=redis_db,
        imap=dovecot_server,
        sink=smtp_sink,
        log_dir=log_dir,
    )
    system.feed(12, reply_share=0.0)
    published = wait_until(
        lambda: system.progress.stored() == 12 and system.progress.waiting() == 0, 60
    )
    assert published, system.why_not_settled()
    assert wait_until(lambda: len(namespace_keys(redis_db)) > 0, 20)
    clear_namespace(redis_db)  # every queued message is gone
    from tests.crash.procs import AliasdeskProcess

    worker = AliasdeskProcess("worker", system.env, log_dir)
    system.fleet.members.append(worker)
    worker.start()
    recovery = system.settle(120)
    _finish(system, "redis queue flushed", recovery)


def _smtp_fault_recovers(
    imap: DovecotServer,
    smtp: ScriptedSmtpServer,
    tmp_path: Path,
    log_dir: Path,
    *,
    fault: str,
    times: int,
    name: str,
    **notes: object,
) -> None:
    """The SMTP server answers the first ``times`` DATA commands with ``fault``; every
    mail still arrives once the server takes mail again."""
    smtp.handler.fail_next("DATA", fault, times=times)
    system = scenario(
        roles=["run"],
        database_url=f"sqlite:///{tmp_path}/a.db",
        broker_url="embedded",
        imap=imap,
        sink=smtp,
        log_dir=log_dir,
    )
    system.feed(8, reply_share=0.0)
    assert wait_until(lambda: not smtp.handler.script.get("DATA"), 120)
    recovery = system.settle(120)
    _finish(system, name, recovery, **notes)


def test_smtp_answers_451_for_a_while(
    dovecot_server: DovecotServer,
    smtp: ScriptedSmtpServer,
    tmp_path: Path,
    log_dir: Path,
) -> None:
    _smtp_fault_recovers(
        dovecot_server,
        smtp,
        tmp_path,
        log_dir,
        fault="451 4.3.0 Try again later",
        times=12,
        name="smtp 451 then accepting",
        refusals=12,
    )


def test_smtp_drops_connection_mid_data(
    dovecot_server: DovecotServer,
    smtp: ScriptedSmtpServer,
    tmp_path: Path,
    log_dir: Path,
) -> None:
    _smtp_fault_recovers(
        dovecot_server,
        smtp,
        tmp_path,
        log_dir,
        fault=DROP,
        times=4,
        name="smtp drops mid-DATA",
        drops=4,
    )
