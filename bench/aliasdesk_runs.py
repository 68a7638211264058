"""Timing aliasdesk as users run it: real processes on Dovecot, an SMTP sink and a database.

The mailbox is appended once into a template folder and copied server-side into a fresh
folder per run, so APPEND time is never charged to anyone and every run starts from the same
bytes. A run is complete when the sink has every acknowledgement the generator predicted;
the harness never asks aliasdesk itself whether it is done.

The sink, the RSS sampler and the mailbox helper are shared with the bare loop and the
django-helpdesk peer, so all three are measured with the same instruments.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.instruments import CpuBudget, CpuMeter, RssSampler, growth, started_children, stop_all
from bench.mailbox_gen import GeneratedMail
from gateway.local_servers import SmtpSink
from tests.support.dovecot import DovecotServer

ROOT = Path(__file__).resolve().parents[1]
ALIASDESK = str(Path(sys.executable).with_name("aliasdesk"))
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS_URL = "redis://127.0.0.1:6379/7"
_ACK = re.compile(rb"(?im)^auto-submitted:[ \t]*auto-replied")
_IN_REPLY_TO = re.compile(rb"(?im)^in-reply-to:[ \t]*(<[^>\r\n]+>)")


class BenchError(RuntimeError):
    """A run could not complete (a process died, acknowledgements missing at the deadline)."""


# -- the mailbox ---------------------------------------------------------------------------


class Mailbox:
    """One Dovecot for the whole benchmark; templates appended once, copied per run."""

    def __init__(self) -> None:
        self.server = DovecotServer()
        self._runs = 0

    def start(self) -> None:
        self.server.start()

    def stop(self) -> None:
        self.server.cleanup()

    def add_template(self, name: str, mails: Sequence[GeneratedMail]) -> float:
        """APPEND the mailbox once; returns the seconds it took (reported, never charged)."""
        started = time.monotonic()
        self.server.append_many((m.raw for m in mails), folder=name)
        return time.monotonic() - started

    def fresh_copy(self, template: str) -> str:
        """A new folder holding the template's mails in order (server-side COPY)."""
        self._runs += 1
        folder = f"run-{self._runs}"
        client = self.server.client()
        try:
            client.create_folder(folder)
            client.select_folder(template, readonly=True)
            uids = client.search("ALL")
            for start in range(0, len(uids), 2000):
                client.copy(uids[start : start + 2000], folder)
        finally:
            client.logout()
        return folder

    def empty_folder(self) -> str:
        self._runs += 1
        folder = f"run-{self._runs}"
        client = self.server.client()
        try:
            client.create_folder(folder)
        finally:
            client.logout()
        return folder


# -- acknowledgements at the sink ----------------------------------------------------------


@dataclass
class AckWatcher:
    """Counts acknowledgements (Auto-Submitted: auto-replied) as the sink receives them."""

    sink: SmtpSink
    seen: int = 0
    arrivals: dict[str, float] = field(default_factory=dict)  # In-Reply-To -> monotonic time
    count: int = 0
    last_at: float = 0.0

    def _scan(self) -> None:
        messages = self.sink.messages
        now = time.monotonic()
        for mail in messages[self.seen :]:
            head = mail.data.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
            if _ACK.search(head):
                self.count += 1
                self.last_at = now
                found = _IN_REPLY_TO.search(head)
                if found:
                    self.arrivals.setdefault(found.group(1).decode(), now)
        self.seen = len(messages)

    def wait(self, expected: int, timeout: float, alive: Sequence[subprocess.Popen[bytes]]) -> bool:
        """Block until ``expected`` acknowledgements arrived; False at the deadline."""
        deadline = time.monotonic() + timeout
        while self.count < expected:
            if time.monotonic() > deadline:
                return False
            for process in alive:
                if process.poll() is not None:
                    raise BenchError(f"process {process.args!r} exited with {process.returncode}")
            self.sink.wait_for(self.seen + 1, timeout=0.2)
            self._scan()
        return True


# -- memory --------------------------------------------------------------------------------


# -- one aliasdesk run ---------------------------------------------------------------------


@dataclass(frozen=True)
class Topology:
    """Which processes on which backends."""

    label: str
    database: str  # sqlite | postgresql
    broker: str  # embedded | redis
    workers: int  # 0: `aliasdesk run`; n: `gateway` plus n `worker` processes
    processes: int = 1  # `run --processes N`


SQLITE = Topology("sqlite+embedded (run)", "sqlite", "embedded", 0)
SQLITE2 = Topology("sqlite+embedded (run --processes 2)", "sqlite", "embedded", 0, 2)
PG2 = Topology("postgresql+redis (gateway + 2 workers)", "postgresql", "redis", 2)
PG1 = Topology("postgresql+redis (gateway + 1 worker)", "postgresql", "redis", 1)


@dataclass
class RunResult:
    topology: str
    mails: int
    acks: int
    seconds: float  # from the gateway's start-up log line to the last acknowledgement
    seconds_with_startup: float  # from spawning the processes
    peak_rss_mb: dict[str, float]
    rss_growth: dict[str, float]  # last sample / sample at 10 % of the run, per process
    cpu: CpuBudget | None = None  # from the start-up line to the last acknowledgement

    @property
    def mails_per_s(self) -> float:
        return self.mails / self.seconds if self.seconds > 0 else 0.0


@contextlib.contextmanager
def database(kind: str, workdir: Path) -> Iterator[str]:
    """A new empty database per run; PostgreSQL ones are dropped afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{workdir / 'aliasdesk.db'}"
        return
    import psycopg

    name = f"aliasdesk_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def broker_url(kind: str) -> str:
    if kind == "embedded":
        return "embedded"
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()  # no job left over from an earlier run
    return REDIS_URL


def aliasdesk_env(
    mailbox: Mailbox, folder: str, sink: SmtpSink, db_url: str, broker: str
) -> dict[str, str]:
    server = mailbox.server
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALIASDESK_")}
    env.update(
        ALIASDESK_DATABASE_URL=db_url,
        ALIASDESK_BROKER_URL=broker,
        ALIASDESK_ROUTING_FILE=str(ROOT / "config" / "routing.yaml"),
        ALIASDESK_IMAP_HOST=server.host,
        ALIASDESK_IMAP_PORT=str(server.port),
        ALIASDESK_IMAP_USERNAME=server.username,
        ALIASDESK_IMAP_PASSWORD=server.password,
        ALIASDESK_IMAP_SECURITY="none",
        ALIASDESK_IMAP_FOLDER=folder,
        ALIASDESK_IMAP_POLL_INTERVAL="1",
        ALIASDESK_SMTP_HOST=sink.host,
        ALIASDESK_SMTP_PORT=str(sink.port),
        ALIASDESK_SMTP_SECURITY="none",
        ALIASDESK_OUTSIDE_MAIL_PER_MINUTE="0",  # the bench floods requesters on purpose
        dramatiq_worker_timeout="100",
    )
    return env


def _spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:
        return subprocess.Popen(
            [ALIASDESK, *args],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )


def _ready_at(log: Path, since: float, timeout: float = 60.0) -> float:
    """When the process logged its start (imports, settings and schema done)."""
    deadline = since + timeout
    while time.monotonic() < deadline:
        if b"event=start" in log.read_bytes():
            return time.monotonic()
        time.sleep(0.01)
    raise BenchError(f"{log.name}: no start line within {timeout}s:\n{log.read_text()[-2000:]}")


def _processes_of(topology: Topology, workdir: Path) -> list[tuple[str, list[str], Path]]:
    """(label, arguments, log) of each process a topology starts, in starting order; the
    last one logs the start line that the timing waits for."""
    main_log = workdir / "main.log"
    if topology.workers == 0:
        return [("run", ["run", "--processes", str(topology.processes)], main_log)]
    workers = [
        (f"worker{n + 1}", ["worker"], workdir / f"worker{n}.log") for n in range(topology.workers)
    ]
    return [*workers, ("gateway", ["gateway"], main_log)]


def run_backlog(
    mailbox: Mailbox,
    template: str,
    mails: Sequence[GeneratedMail],
    topology: Topology,
    *,
    timeout: float = 600.0,
) -> RunResult:
    """Process a pre-appended backlog; time from ready to the last acknowledgement."""
    expected = sum(m.acks for m in mails)
    folder = mailbox.fresh_copy(template)
    workdir = Path(tempfile.mkdtemp(prefix="aliasdesk-bench-"))
    with SmtpSink() as sink, database(topology.database, workdir) as db_url:
        env = aliasdesk_env(mailbox, folder, sink, db_url, broker_url(topology.broker))
        subprocess.run(
            [ALIASDESK, "db", "upgrade"], env=env, cwd=ROOT, check=True, capture_output=True
        )
        watcher = AckWatcher(sink)
        processes: list[subprocess.Popen[bytes]] = []
        meter = CpuMeter()
        with RssSampler() as rss:
            spawned = time.monotonic()
            try:
                main_log = workdir / "main.log"
                for label, args, log in _processes_of(topology, workdir):
                    processes.append(_spawn(args, env, log))
                    rss.watch(label, processes[-1].pid)
                    meter.watch(label, processes[-1].pid)
                ready = _ready_at(main_log, spawned)
                # The job processes of `run --processes N`, started right after that line.
                for pid in started_children(processes[0].pid, topology.processes - 1):
                    rss.watch("run-jobs", pid)
                    meter.watch("run-jobs", pid)
                meter.start()
                finished = watcher.wait(expected, timeout, processes)
                cpu = meter.stop()
                if not finished:
                    raise BenchError(
                        f"{topology.label}: {watcher.count}/{expected} acknowledgements after "
                        f"{timeout}s; logs in {workdir}"
                    )
            finally:
                stop_all(processes)
    shutil.rmtree(workdir, ignore_errors=True)  # kept, with its logs, when the run failed
    return RunResult(
        topology=topology.label,
        mails=len(mails),
        acks=watcher.count,
        seconds=watcher.last_at - ready,
        seconds_with_startup=watcher.last_at - spawned,
        peak_rss_mb=rss.peak_mb(),
        rss_growth={label: growth(s) for label, s in rss.samples.items()},
        cpu=cpu,
    )


# -- latency -------------------------------------------------------------------------------


@dataclass
class LatencyResult:
    mails: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    missing: int


def run_latency(
    mailbox: Mailbox,
    mails: Sequence[GeneratedMail],
    *,
    spacing: float = 0.2,
) -> LatencyResult:
    """Mails arriving one every ``spacing`` s while `aliasdesk run` IDLEs; APPEND -> ack."""
    requests = [m for m in mails if m.kind == "request"]
    folder = mailbox.empty_folder()
    workdir = Path(tempfile.mkdtemp(prefix="aliasdesk-latency-"))
    appended: dict[str, float] = {}
    with SmtpSink() as sink, database("sqlite", workdir) as db_url:
        env = aliasdesk_env(mailbox, folder, sink, db_url, "embedded")
        subprocess.run(
            [ALIASDESK, "db", "upgrade"], env=env, cwd=ROOT, check=True, capture_output=True
        )
        # One process, as in earlier runs: a job process would add its 0.2 s look.
        process = _spawn(["run", "--processes", "1"], env, workdir / "main.log")
        try:
            _ready_at(workdir / "main.log", time.monotonic())
            time.sleep(1.0)  # let the gateway select the folder and enter IDLE
            client = mailbox.server.client()
            watcher = AckWatcher(sink)
            feeder = threading.Thread(
                target=_feed, args=(client, folder, requests, spacing, appended), daemon=True
            )
            feeder.start()
            watcher.wait(sum(m.acks for m in requests), len(requests) * spacing + 30, [process])
            feeder.join(timeout=5)
            client.logout()
        finally:
            stop_all([process])
    delays = sorted(
        (watcher.arrivals[mid] - at) * 1000
        for mid, at in appended.items()
        if mid in watcher.arrivals
    )
    if not delays:
        raise BenchError(f"no acknowledgement arrived during the latency run; logs in {workdir}")
    shutil.rmtree(workdir, ignore_errors=True)  # kept, with its logs, when the run failed
    return LatencyResult(
        mails=len(requests),
        p50_ms=round(_percentile(delays, 50), 1),
        p99_ms=round(_percentile(delays, 99), 1),
        max_ms=round(delays[-1], 1),
        missing=len(appended) - len(delays),
    )


def _feed(
    client: object,
    folder: str,
    mails: Sequence[GeneratedMail],
    spacing: float,
    appended: dict[str, float],
) -> None:
    """APPEND on a fixed schedule; the time recorded is when the server confirmed it."""
    start = time.monotonic()
    for n, mail in enumerate(mails):
        delay = start + n * spacing - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        client.append(folder, mail.raw)  # type: ignore[attr-defined]
        appended[mail.message_id] = time.monotonic()


def _percentile(sorted_values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (no interpolation: p99 of 100 is the 99th value)."""
    rank = max(1, min(len(sorted_values), math.ceil(pct / 100 * len(sorted_values))))
    return sorted_values[rank - 1]
