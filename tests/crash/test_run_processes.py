"""``aliasdesk run --processes 2``: the run process takes the mail in, and it and its job
process share the jobs.

A backlog on a real Dovecot mailbox is worked off to the end by the two processes, each
request becoming one ticket and one acknowledgement at the SMTP sink. The job process
SIGKILLed over and over mid-backlog is started again by the run process, and what it held
is taken over: nothing lost, nothing doubled. The run process SIGKILLed alone (not its
process group) leaves no job process behind.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import signal
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest
from sqlalchemy import create_engine, text

from gateway.local_servers import SmtpSink
from tests.crash.conftest import Backends
from tests.crash.procs import (
    AliasdeskProcess,
    Workload,
    aliasdesk_env,
    full_audit,
    migrate,
    settle_budget,
    wait_until,
)
from tests.support.dovecot import DovecotServer

pytestmark = pytest.mark.dovecot

BACKLOG = 60
KILLS = 3
ROUND_MAILS = 80
FEED_EVERY = 10.0


def _children(run: AliasdeskProcess) -> list[psutil.Process]:
    assert run.pid is not None
    try:
        return [p for p in psutil.Process(run.pid).children() if p.status() != "zombie"]
    except psutil.NoSuchProcess:
        return []


def _ready(run: AliasdeskProcess) -> int:
    """How many job processes got as far as running jobs (the first and the restarted)."""
    return run.log_path.read_text().count("event=worker mode=")


def _job_holders(database_url: str) -> set[int]:
    """The pids that ran at least one job to the end (a done job keeps its holder)."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT DISTINCT holder FROM jobs WHERE state = 'done'"))
            return {int(str(name).split(":")[-2]) for (name,) in rows if name}
    finally:
        engine.dispose()


def _start(
    backends: Backends, dovecot: DovecotServer, sink: SmtpSink, log_dir: Path, mails: int
) -> tuple[AliasdeskProcess, Workload, dict[str, str]]:
    env = aliasdesk_env(
        database_url=backends.database_url,
        broker_url=backends.broker_url,
        imap=dovecot,
        smtp_port=sink.port,
    )
    migrate(env)
    workload = Workload(rng=random.Random(11))
    run = AliasdeskProcess("run", env, log_dir, args=["--processes", "2"])
    run.start()
    # The backlog comes once both are ready, so that it is theirs to share.
    up = wait_until(lambda: _ready(run) == 1, 90, 0.1)
    assert up and len(_children(run)) == 1, run.log_tail()
    dovecot.append_many(workload.next_mails(mails))
    return run, workload, env


def _settled(backends: Backends, run: AliasdeskProcess, mails: int) -> None:
    settled = wait_until(lambda: backends.progress.settled(mails), settle_budget(180), 0.3)
    p = backends.progress
    assert settled, (
        f"stored={p.stored()} waiting={p.waiting()} jobs={p.unfinished_jobs()} "
        f"unsent={p.unsent()}\n{run.log_tail(80)}"
    )
    time.sleep(2.0)  # a late second send would show up now


def _kill_busy_job_process(
    run: AliasdeskProcess, backends: Backends, round_: int, more_mail: Callable[[], None]
) -> int:
    """SIGKILL the job process once it has jobs done and more are waiting; wait for the
    run process to start another one. Returns the pid killed.

    The run process runs jobs too, and on a loaded machine it can work a round's mail off
    alone before the job process claims any: then ``more_mail`` is delivered, every
    ``FEED_EVERY`` seconds, until the job process has some of it in hand."""

    def busy() -> bool:
        return (
            bool(_children(run))
            and _children(run)[0].pid in _job_holders(backends.database_url)
            and backends.progress.unfinished_jobs() > 0
        )

    deadline = time.monotonic() + 120
    while not wait_until(busy, FEED_EVERY, 0.05):
        assert time.monotonic() < deadline, (
            f"round {round_}: the job process never got work\n{run.log_tail()}"
        )
        more_mail()
    victim = _children(run)[0]
    victim.kill()
    restarted = wait_until(
        lambda: (
            _ready(run) == round_ + 2 and [p.pid for p in _children(run)] not in ([], [victim.pid])
        ),
        90,
    )
    assert restarted, f"the job process was not started again\n{run.log_tail()}"
    return victim.pid


def test_two_processes_work_off_a_backlog_once(
    dovecot_server: DovecotServer, smtp_sink: SmtpSink, backends: Backends, log_dir: Path
) -> None:
    run, workload, env = _start(backends, dovecot_server, smtp_sink, log_dir, BACKLOG)
    try:
        child = _children(run)[0].pid
        _settled(backends, run, BACKLOG)
        assert not run.exited_badly(), run.log_tail()
        assert [p.pid for p in _children(run)] == [child], "the job process was replaced"
    finally:
        run.stop()
    audit = full_audit(env, workload, smtp_sink.messages)
    assert audit.problems() == {}
    assert audit.same_id_resends == 0
    # On the embedded broker both ran jobs: the run process took the mail in and shared
    # the jobs it queued with its job process (a claim takes at most 50 of the backlog's
    # jobs, so one process cannot take them all while the other looks every 0.2 s). On a
    # broker the run process publishes the jobs and its job process runs them.
    embedded = backends.broker_url == "embedded"
    assert _job_holders(backends.database_url) == ({child, run.pid} if embedded else {child})
    assert not psutil.pid_exists(child) or psutil.Process(child).status() == "zombie"


def test_a_job_process_killed_mid_backlog_is_restarted_and_loses_nothing(
    dovecot_server: DovecotServer, smtp_sink: SmtpSink, backends: Backends, log_dir: Path
) -> None:
    mails = BACKLOG + 40
    run, workload, env = _start(backends, dovecot_server, smtp_sink, log_dir, mails)
    killed: list[int] = []
    try:

        def more_mail() -> None:
            dovecot_server.append_many(workload.next_mails(ROUND_MAILS // 2))

        for round_ in range(KILLS):
            killed.append(_kill_busy_job_process(run, backends, round_, more_mail))
            if round_ < KILLS - 1:  # more mail for the next round's victim to be busy with
                # (more than one claim of the run process, which runs jobs too, can take)
                dovecot_server.append_many(workload.next_mails(ROUND_MAILS))
        _settled(backends, run, len(workload.message_ids))
        assert not run.exited_badly(), run.log_tail()
    finally:
        run.stop()
    audit = full_audit(env, workload, smtp_sink.messages)
    assert audit.problems() == {}, audit.problems()
    taken = " ".join(re.findall(r"event=takeover holders=(\S+)", run.log_path.read_text()))
    assert any(f":{pid}:" in taken for pid in killed), "no kill left anything to take over"


def test_killing_the_run_process_leaves_no_job_process_behind(
    dovecot_server: DovecotServer, smtp_sink: SmtpSink, backends: Backends, log_dir: Path
) -> None:
    run, _workload, _env = _start(backends, dovecot_server, smtp_sink, log_dir, 20)
    orphans = _children(run)
    try:
        assert run.pid is not None
        os.kill(run.pid, signal.SIGKILL)  # the run process alone, not its process group
        gone = wait_until(lambda: not any(p.is_running() for p in orphans), 25, 0.1)
        assert gone, f"job processes outlived the run process\n{run.log_tail()}"
    finally:
        for orphan in orphans:
            with contextlib.suppress(psutil.NoSuchProcess):
                orphan.kill()
        run.stop()
