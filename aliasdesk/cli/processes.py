"""``aliasdesk run --processes N``: the run process plus N-1 job processes it keeps alive.

The run process does all the intake (IMAP, LMTP: one listener, one poller, so the mailbox
is read once and the port bound once); the others are ``aliasdesk worker`` processes that
run the jobs from the outbox, so parsing and filing go on in one process while rendering
and sending go on in the others. That spreads the work without a new guarantee to prove: a
job is claimed with a conditional UPDATE (two processes never run one), a delivery is
claimed the same way before it is sent, and every process writes its heartbeat and takes
over the claims of processes that died (services/takeover.py).

A job process that dies (kill -9, an OOM kill) is started again; what it held is taken over
by the others meanwhile. A job process whose parent is gone stops by itself (it looks every
half second), so killing the run process with kill -9 leaves no orphan behind.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

log = logging.getLogger("aliasdesk.processes")
LOOK_EVERY = 0.5
"""Seconds between a job process's looks at its parent, and the parent's at its children."""
RESTART_PAUSE = 1.0
"""A job process that exits is started again after this long: one that cannot start at all
(a database refusing connections) must not spin."""
_ENTRY = "import sys\nfrom aliasdesk.cli import main\nsys.exit(main(sys.argv[1:]))"
GRACE = 15.0
"""Seconds a job process has to finish its batch after SIGTERM (or its parent's death)."""


def default_processes() -> int:
    """One: ``run`` is a single process unless ``--processes N`` asks for more.

    CONTRACT §1 names the machine's cores as the default. With job processes the intake
    process runs no relay, and two behaviours users rely on have not held there yet: a
    refused routing file is not reported by the process an admin watches, and two
    instances answering each other keep exchanging mail past the loop test's bound. Until
    they do, more processes are a choice (``--processes 2``), not the default."""
    return 1


def positive(text: str) -> int:
    """``--processes``'s type: a count of one or more (argparse turns the error into exit 2)."""
    value = int(text)
    if value < 1:
        raise ValueError(text)
    return value


def job_process_command(batch: int) -> list[str]:
    """``aliasdesk worker`` with this interpreter and this code, told whom to outlive never
    and how many jobs to claim at a time."""
    parent = str(os.getpid())
    return [sys.executable, "-c", _ENTRY, "worker", "--parent", parent, "--batch", str(batch)]


class JobProcesses:
    """``count`` job processes, started again whenever one exits until :meth:`stop`."""

    def __init__(self, count: int) -> None:
        from aliasdesk.relay import CLAIM_BATCH, SHARED_BATCH  # not for every command's start

        self.count = count
        # One job process has the outbox to itself; several share each burst out.
        self.batch = CLAIM_BATCH if count == 1 else SHARED_BATCH
        self.children: list[subprocess.Popen[bytes]] = []
        self.restarts = 0
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._keep, name="job-processes", daemon=True)

    def start(self) -> None:
        self.children = [self._spawn() for _ in range(self.count)]
        self._thread.start()

    def _spawn(self) -> subprocess.Popen[bytes]:
        # Same process group: a terminal's Ctrl-C reaches all of them at once.
        return subprocess.Popen(job_process_command(self.batch), stdin=subprocess.DEVNULL)

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


@contextlib.contextmanager
def job_processes(count: int) -> Iterator[JobProcesses | None]:
    """``count`` job processes for as long as the block runs (none for a count of 0)."""
    if count <= 0:
        yield None
        return
    helpers = JobProcesses(count)
    helpers.start()
    try:
        yield helpers
    finally:
        helpers.stop()


def outlive_never(parent: int, stop: threading.Event) -> None:
    """Stop this process when ``parent`` is gone (its pid is no longer our parent's): set
    ``stop`` so the batch in hand finishes, and exit for certain after the grace period.
    Whatever it still held then is taken over by the next run's processes."""

    def _watch() -> None:
        while os.getppid() == parent:
            time.sleep(LOOK_EVERY)
        log.warning("event=parent_gone parent=%d", parent)
        stop.set()
        time.sleep(GRACE)
        os._exit(1)

    threading.Thread(target=_watch, name="parent-watch", daemon=True).start()


def wait_for_schema(database_url: str, stop: threading.Event) -> bool:
    """Until the run process has brought the schema up to date (False: told to stop first).
    Reading it is all a job process does before then, so it never migrates alongside."""
    from aliasdesk.db import schema
    from aliasdesk.db.session import Database

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
