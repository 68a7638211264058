"""``aliasdesk run --processes N``: the run process plus N-1 job processes it keeps alive.

The run process does all the intake (IMAP, LMTP: one listener, one poller, so the mailbox
is read once and the port bound once) and the relay's rounds (SLA timers, admin alerts
such as a refused routing file, digests, reports, retention), so everything a single
process does besides the jobs happens once and where the admin watches; the others are
``aliasdesk worker`` processes that run the jobs from the outbox. The run process runs
jobs too: taking mail in costs about a third of what its jobs do, so every process
claims an even share of the jobs it sees due (``ClaimSize``). That spreads the
work without a new guarantee to prove: a job is claimed with a conditional UPDATE (two
processes never run one), a delivery is claimed the same way before it is sent, and every
process writes its heartbeat and takes over the claims of processes that died
(services/takeover.py).

A job process that dies (kill -9, an OOM kill) is started again; what it held is taken over
by the others meanwhile. A job process whose parent is gone stops by itself (it looks every
half second), so killing the run process with kill -9 leaves no orphan behind.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from aliasdesk.claim_sizes import CLAIM_BATCH, ClaimSize
from aliasdesk.settings.shipped import package_folder

log = logging.getLogger("aliasdesk.processes")
LOOK_EVERY = 0.5
"""Seconds between a job process's looks at its parent, and the parent's at its children."""
RESTART_PAUSE = 1.0
"""A job process that exits is started again after this long: one that cannot start at all
(a database refusing connections) must not spin."""
_ENTRY = """import os, sys
code = sys.argv.pop(1)
if os.path.realpath(code) not in {os.path.realpath(p) for p in sys.path if p}:
    sys.path.insert(0, code)
from aliasdesk.cli import main
sys.exit(main(sys.argv[1:]))"""
"""A job process's entry, run with ``-P`` so that the working folder is not on its module
path: with ``-c`` Python puts it first, and an ``aliasdesk`` folder in the folder ``run``
was started from (a checkout of another version, or one anybody could write to, such as
/tmp) would have been the code the job processes ran. The folder this process's
aliasdesk was imported from is added when it is not on the path already (a checkout run
without installing)."""
GRACE = 15.0
"""Seconds a job process has to finish its batch after SIGTERM (or its parent's death)."""


def default_processes() -> int:
    """The machine's cores (CONTRACT §1), at least one."""
    return max(1, os.cpu_count() or 1)


LARGEST = 2**63 - 1
"""The largest integer SQLite and PostgreSQL store: an id or a limit past it is no row."""


def positive(text: str) -> int:
    """A count of one or more (``--processes``, ``--limit``), at most what a database
    integer holds; argparse turns the error into exit 2."""
    value = int(text)
    if not 1 <= value <= LARGEST:
        raise ValueError(text)
    return value


def row_id(text: str) -> int:
    """A row's id or number (``quarantine retry 7``): one or more, a database integer."""
    return positive(text)


@dataclass(frozen=True)
class RunFolder:
    """A private folder the run process shares with its job processes: the copy of the
    routing version in force there (a job process started while the file is broken runs
    with it)."""

    path: Path

    @property
    def rules(self) -> Path:
        return self.path / "routing.yaml"


def job_process_command(claims: ClaimSize, folder: Path | None = None) -> list[str]:
    """``aliasdesk worker`` with this interpreter and this code, told whom to outlive never,
    how many jobs to claim at a time, among how many processes, and which folder it shares
    with this process."""
    parent = str(os.getpid())
    command = [sys.executable, "-P", "-c", _ENTRY, str(package_folder().parent)]
    command += ["worker", "--parent", parent]
    command += ["--batch", str(claims.most), "--sharers", str(claims.sharers)]
    return command + (["--shared", str(folder)] if folder is not None else [])


class JobProcesses:
    """``count`` job processes, started again whenever one exits until :meth:`stop`."""

    def __init__(self, count: int) -> None:
        self.count = count
        # The run process runs jobs too: every process takes its share of each burst.
        self.claims = ClaimSize(CLAIM_BATCH, sharers=count + 1)
        self._folder = tempfile.TemporaryDirectory(prefix="aliasdesk-run-")
        self.folder = RunFolder(Path(self._folder.name))
        self.children: list[subprocess.Popen[bytes]] = []
        self.restarts = 0
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._keep, name="job-processes", daemon=True)

    def start(self) -> None:
        self.children = [self._spawn() for _ in range(self.count)]
        self._thread.start()

    def _spawn(self) -> subprocess.Popen[bytes]:
        # Same process group: a terminal's Ctrl-C reaches all of them at once.
        command = job_process_command(self.claims, self.folder.path)
        return subprocess.Popen(command, stdin=subprocess.DEVNULL)

    def _keep(self) -> None:
        while not self._stopping.wait(LOOK_EVERY):
            for index, child in enumerate(self.children):
                code = child.poll()
                if code is None or self._stopping.is_set():
                    continue
                log.warning("event=job_process_exited pid=%d code=%s", child.pid, code)
                if self._stopping.wait(RESTART_PAUSE):
                    return
                self.children[index] = self._spawn()
                self.restarts += 1

    def stop(self) -> None:
        """SIGTERM to every child, a grace period to finish the batch, then SIGKILL."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout=RESTART_PAUSE + LOOK_EVERY + 1)
        for child in self.children:
            with contextlib.suppress(ProcessLookupError):
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + GRACE
        for child in self.children:
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait(timeout=10)
        self._folder.cleanup()


@contextlib.contextmanager
def job_processes(count: int) -> Iterator[JobProcesses | None]:
    """``count`` job processes (none for a count of 0), stopped when the block ends; the
    block starts them (``start``) once this process is up."""
    if count <= 0:
        yield None
        return
    helpers = JobProcesses(count)
    try:
        yield helpers
    finally:
        helpers.stop()


def outlive_never(parent: int, stop: threading.Event, shared: Path | None = None) -> None:
    """Stop this process when ``parent`` is gone (its pid is no longer our parent's): set
    ``stop`` so the batch in hand finishes, and exit for certain after the grace period.
    Whatever it still held then is taken over by the next run's processes. The folder it
    ``shared`` with the parent (a copy of the routing file) is removed: a parent killed
    with kill -9 could not."""

    def _watch() -> None:
        while os.getppid() == parent:
            time.sleep(LOOK_EVERY)
        log.warning("event=parent_gone parent=%d", parent)
        if shared is not None:
            shutil.rmtree(shared, ignore_errors=True)
        stop.set()
        time.sleep(GRACE)
        os._exit(1)

    threading.Thread(target=_watch, name="parent-watch", daemon=True).start()


def wait_for_schema(database_url: str, stop: threading.Event) -> bool:
    """Until the run process has brought the schema up to date (False: told to stop first).
    Reading it is all a job process does before then, so it never migrates alongside. A
    SQLite file is not opened before the run process has made it: opening would create
    it, and a run process that stops at a configuration error must leave none behind."""
    from aliasdesk.db import schema
    from aliasdesk.db.existing import sqlite_file
    from aliasdesk.db.session import Database

    file = sqlite_file(database_url)
    while file is not None and not file.exists():
        if stop.wait(LOOK_EVERY / 5):
            return False
    db = Database(database_url)
    try:
        while not stop.is_set():
            with contextlib.suppress(Exception):  # no file or no table yet: not current
                if schema.is_current(db):
                    return True
            stop.wait(LOOK_EVERY / 5)
        return False
    finally:
        db.dispose()


def wait_for_rules(folder: RunFolder, stop: threading.Event) -> bool:
    """Until the run process has copied the rules in force into ``folder`` (False: told
    to stop first). It does so as it reads them, before it takes any mail; a job process
    started beside it could otherwise meet a broken routing file with no copy to fall
    back on."""
    while not stop.is_set():
        if folder.rules.exists():
            return True
        stop.wait(LOOK_EVERY / 5)
    return False
