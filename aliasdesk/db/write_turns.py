"""SQLite writers take turns through a lock file, so a waiting writer starts the moment
the one before it commits.

SQLite lets one connection write at a time. A connection that finds the write lock
taken waits in SQLite's busy handler, which sleeps 1, 2, 5, 10, 15, 20, 25, 25, 25, 50,
50 and then 100 ms between looks without knowing when the lock is let go. Under
``run --processes 2`` the intake and the job processes commit a few hundred times a
second, and measured on a 1,000-mail backlog one process spent 5.4 s of a 10 s run
asleep in BEGIN IMMEDIATE while the lock was long free.

Here every write transaction of this process first takes an exclusive ``flock`` on a
file beside the database (``<database>-writers``), one open file per thread, so threads
of one process queue as processes do, and lets go of it after COMMIT or ROLLBACK. The
kernel wakes a waiter as the lock is let go (a short look every fraction of a
millisecond, growing to 2 ms, stands in for a blocking wait that could not time out).

The lock file only orders aliasdesk's own writers; SQLite's lock still decides who
writes. A writer that cannot open the file, or waits longer than ``WAIT_SECONDS`` (a
process stuck in a transaction), goes on to BEGIN IMMEDIATE as before, where the busy
timeout applies. The kernel lets go of a killed process's flock, so kill -9 leaves no
turn taken.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from aliasdesk.private_files import FILE_MODE

log = logging.getLogger("aliasdesk.db")
WAIT_SECONDS = 30.0
"""As long as SQLite's busy timeout: past it, a writer stops queueing and lets SQLite decide."""
_FIRST_LOOK = 0.0002
_LONGEST_LOOK = 0.002
SUFFIX = "-writers"
_OPEN_FLAGS = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW
"""Never through a link: whoever could place one beside the database must not choose
which file aliasdesk opens for writing."""


class WriteTurns:
    """One database file's queue of writers, per thread of this process."""

    def __init__(self, database: Path) -> None:
        self.path = database.with_name(database.name + SUFFIX)
        self._local = threading.local()
        self._unavailable = False  # the file could not be opened: said once, not tried again

    def take(self, connection: object) -> None:
        """Wait for this thread's turn to write with ``connection``. A thread already
        writing with another connection has its turn: the second transaction joins it
        (SQLite's busy timeout then decides, as it did before)."""
        writing = self._writing()
        if not writing:
            descriptor = self._descriptor()
            self._local.locked = descriptor is not None and _wait_for(descriptor, WAIT_SECONDS)
        writing.add(id(connection))

    def let_go(self, connection: object) -> None:
        """After ``connection``'s COMMIT or ROLLBACK: the next writer may start once this
        thread writes with no other connection. Any other connection's end (a reader, the
        pool's reset of a connection handed back) changes nothing."""
        writing = self._writing()
        if id(connection) not in writing:
            return
        writing.discard(id(connection))
        if not writing and self._local.locked:
            self._local.locked = False
            fcntl.flock(self._local.descriptor, fcntl.LOCK_UN)

    def _writing(self) -> set[int]:
        writing: set[int] | None = getattr(self._local, "writing", None)
        if writing is None:
            writing = self._local.writing = set()
            self._local.locked = False
        return writing

    def _descriptor(self) -> int | None:
        descriptor: int | None = getattr(self._local, "descriptor", None)
        if descriptor is None:
            if self._unavailable:
                return None
            try:
                descriptor = os.open(self.path, _OPEN_FLAGS, FILE_MODE)
            except OSError as error:
                self._unavailable = True
                log.warning("event=write_turns_unavailable path=%s error=%s", self.path, error)
                return None
            self._local.descriptor = descriptor
        return descriptor


def _wait_for(descriptor: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    pause = _FIRST_LOOK
    while True:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                log.warning("event=write_turn_timeout seconds=%.0f", seconds)
                return False
            time.sleep(pause)
            pause = min(pause * 2, _LONGEST_LOOK)


def take_turns(engine: Engine, database: Path) -> WriteTurns:
    """Make ``engine``'s write transactions take turns; the caller takes the turn before
    BEGIN IMMEDIATE (see aliasdesk.db.session). COMMIT and ROLLBACK, including the
    pool's rollback of a connection handed back, let go of it."""
    turns = WriteTurns(database)
    dialect: Any = engine.dialect
    commit, rollback = dialect.do_commit, dialect.do_rollback

    def do_commit(dbapi_connection: Any) -> None:
        try:
            commit(dbapi_connection)
        finally:
            _let_go_if_writing(turns, dbapi_connection)

    def do_rollback(dbapi_connection: Any) -> None:
        try:
            rollback(dbapi_connection)
        finally:
            _let_go_if_writing(turns, dbapi_connection)

    dialect.do_commit, dialect.do_rollback = do_commit, do_rollback
    return turns


def _let_go_if_writing(turns: WriteTurns, connection: Any) -> None:
    """Let go once the connection is out of its transaction (a failed COMMIT leaves it
    in, and the ROLLBACK that follows lets go). SQLAlchemy hands the dialect the pool's
    proxy of the connection: the turn is the driver's connection's, found behind it."""
    raw = getattr(connection, "dbapi_connection", connection)
    with contextlib.suppress(Exception):
        if raw.in_transaction:
            return
    turns.let_go(raw)
