"""SQLite writers take turns through a flock on ``<database>-writers``
(aliasdesk.db.write_turns): real files, threads and processes, nothing mocked.

- a write transaction holds the turn until its COMMIT or ROLLBACK, readers take none, and
  the pool's reset of a reader handed back does not let go of a writer's turn;
- a writer waits for another process's turn and starts as soon as it is let go, or as
  that process is killed;
- a thread nesting a second write transaction inside its first does not wait for its own
  turn (SQLite's busy timeout answers it);
- a lock file that cannot be opened leaves writes working, with a warning;
- threads writing many small transactions lose no row.
"""

from __future__ import annotations

import fcntl
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import OperationalError

from aliasdesk.db.session import Database
from aliasdesk.db.write_turns import SUFFIX

HOLDER = """\
import fcntl, os, sys, time
descriptor = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(descriptor, fcntl.LOCK_EX)
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
released = time.monotonic()
fcntl.flock(descriptor, fcntl.LOCK_UN)
print(released, flush=True)
time.sleep(float(sys.argv[3]))
"""
"""Takes the turn from outside, keeps it argv[2] seconds, prints when it let go (the
monotonic clock is the machine's, so this process can compare), then lives argv[3] more
seconds: the turn is let go by the unlock, not by the exit."""

INSERT = text("INSERT INTO note (body) VALUES (:body)")
COUNT = text("SELECT count(*) FROM note")


def _open_database(path: Path, *, busy_ms: int | None = None) -> Database:
    db = Database(f"sqlite:///{path}")
    if busy_ms is not None:
        # Runs after aliasdesk's own connect listener, so it overrides its 30 s.
        @event.listens_for(db.engine, "connect")
        def _short_wait(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.execute(f"PRAGMA busy_timeout={busy_ms}")

    return db


def _create_table(db: Database) -> None:
    with db.unit_of_work() as session:
        session.execute(text("CREATE TABLE note (id INTEGER PRIMARY KEY, body TEXT)"))


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "desk.db"


@pytest.fixture
def db(path: Path) -> Iterator[Database]:
    database = _open_database(path)
    _create_table(database)
    yield database
    database.dispose()


def _lock_file(path: Path) -> Path:
    return path.with_name(path.name + SUFFIX)


def turn_is_free(path: Path) -> bool:
    """Whether a file description of our own gets the writers' flock at once (flock
    locks belong to the open file description, so this process's other one counts)."""
    descriptor = os.open(_lock_file(path), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(descriptor)  # closing the description lets go of a flock taken here
    return True


def _count(db: Database) -> int:
    with db.reader() as session:
        return int(session.execute(COUNT).scalar_one())


def test_a_write_holds_the_turn_until_it_commits(db: Database, path: Path) -> None:
    with db.unit_of_work() as session:
        session.execute(INSERT, {"body": "one"})
        assert not turn_is_free(path)
    assert turn_is_free(path)
    assert _count(db) == 1


def test_a_write_rolled_back_by_an_exception_lets_go_of_the_turn(db: Database, path: Path) -> None:
    with pytest.raises(RuntimeError, match="on purpose"), db.unit_of_work() as session:
        session.execute(INSERT, {"body": "lost"})
        assert not turn_is_free(path)
        raise RuntimeError("on purpose")
    assert turn_is_free(path)
    assert _count(db) == 0


def test_readers_and_snapshots_take_no_turn(db: Database, path: Path) -> None:
    with db.reader() as session:
        assert session.execute(COUNT).scalar_one() == 0
        assert turn_is_free(path)
    with db.snapshot() as connection:
        assert connection.execute(COUNT).scalar_one() == 0
        assert turn_is_free(path)
    assert turn_is_free(path)


def test_a_reader_handed_back_during_a_write_keeps_the_writers_turn(
    db: Database, path: Path
) -> None:
    with db.unit_of_work() as session:
        session.execute(INSERT, {"body": "one"})
        with db.reader() as reading:
            assert reading.execute(COUNT).scalar_one() == 0  # the write is not committed
        # The reader's connection went back to the pool, which rolled it back.
        assert not turn_is_free(path)
        with db.snapshot() as connection:
            connection.execute(COUNT)
        assert not turn_is_free(path)
        session.execute(INSERT, {"body": "two"})
        assert not turn_is_free(path)
    assert turn_is_free(path)
    assert _count(db) == 2


def _holder(path: Path, hold: float, linger: float) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(_lock_file(path)), str(hold), str(linger)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "locked"
    return process


def test_a_write_waits_for_another_process_and_starts_as_it_lets_go(
    db: Database, path: Path
) -> None:
    holder = _holder(path, hold=0.5, linger=2.0)
    try:
        started = time.monotonic()
        with db.unit_of_work() as session:
            session.execute(INSERT, {"body": "after the other"})
        finished = time.monotonic()
        assert holder.stdout is not None
        released = float(holder.stdout.readline())
    finally:
        holder.kill()
        holder.wait()
    assert finished - started >= 0.45, "the write did not wait for the other process"
    assert finished - started < 0.5 + 0.3
    # Waiting ends within the longest look (2 ms) of the unlock; the rest is the write.
    assert 0 <= finished - released < 0.15, finished - released
    assert _count(db) == 1


def test_a_process_killed_holding_the_turn_lets_go_of_it(db: Database, path: Path) -> None:
    holder = _holder(path, hold=60.0, linger=0.0)
    done = threading.Event()

    def write() -> None:
        with db.unit_of_work() as session:
            session.execute(INSERT, {"body": "after the killed one"})
        done.set()

    writer = threading.Thread(target=write, daemon=True)
    try:
        writer.start()
        assert not done.wait(0.3), "the write did not wait for the turn"
        killed = time.monotonic()
        os.kill(holder.pid, signal.SIGKILL)
        assert done.wait(5.0), "the killed process's turn was never let go"
        assert time.monotonic() - killed < 1.0
    finally:
        holder.kill()
        holder.wait()
        writer.join(5.0)
    assert _count(db) == 1
    assert turn_is_free(path)


def test_a_write_nested_in_a_write_does_not_wait_for_its_own_turn(path: Path) -> None:
    """The second transaction joins the thread's turn and meets SQLite's write lock,
    held by the first: the busy timeout (here 200 ms) answers "database is locked"."""
    db = _open_database(path, busy_ms=200)
    _create_table(db)
    seen: dict[str, Any] = {}

    def nest() -> None:
        with db.unit_of_work() as outer:
            outer.execute(INSERT, {"body": "outer"})
            started = time.monotonic()
            try:
                with db.unit_of_work() as inner:
                    inner.execute(INSERT, {"body": "inner"})
            except OperationalError as error:
                seen["error"] = str(error)
            seen["waited"] = time.monotonic() - started
            seen["held_after_inner"] = not turn_is_free(path)
        seen["free_after_outer"] = turn_is_free(path)

    try:
        thread = threading.Thread(target=nest, daemon=True)
        thread.start()
        thread.join(10.0)
        assert not thread.is_alive(), "nested write transactions hung"
        assert "database is locked" in seen["error"]
        assert 0.15 <= seen["waited"] < 3.0, seen["waited"]
        assert seen["held_after_inner"], "the inner failure let go of the outer's turn"
        assert seen["free_after_outer"]
        assert _count(db) == 1
    finally:
        db.dispose()


def test_a_lock_file_that_cannot_be_opened_leaves_writes_working(
    path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # os.open fails on a directory for any user, root included (who ignores chmod).
    _lock_file(path).mkdir()
    db = _open_database(path)
    try:
        with caplog.at_level(logging.WARNING, logger="aliasdesk.db"):
            _create_table(db)
            with db.unit_of_work() as session:
                session.execute(INSERT, {"body": "still written"})
            errors: list[BaseException] = []

            def write() -> None:
                try:
                    with db.unit_of_work() as session:
                        session.execute(INSERT, {"body": "from a thread"})
                except BaseException as error:
                    errors.append(error)

            thread = threading.Thread(target=write)
            thread.start()
            thread.join(10.0)
        assert errors == []
        assert _count(db) == 2
    finally:
        db.dispose()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    said = [w for w in warnings if "event=write_turns_unavailable" in w]
    assert len(said) == 1, warnings  # once, not once per write


def test_threads_writing_many_small_transactions_lose_nothing(db: Database) -> None:
    threads, writes = 4, 100
    errors: list[BaseException] = []

    def write(number: int) -> None:
        try:
            for n in range(writes):
                with db.unit_of_work() as session:
                    session.execute(INSERT, {"body": f"{number}-{n}"})
        except BaseException as error:
            errors.append(error)

    started = time.monotonic()
    workers = [threading.Thread(target=write, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30.0)
    elapsed = time.monotonic() - started
    assert errors == []
    assert _count(db) == threads * writes
    assert elapsed < 10.0, elapsed


def test_a_link_in_place_of_the_lock_file_is_not_followed(
    path: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_text("not aliasdesk's\n")
    _lock_file(path).symlink_to(elsewhere)
    with caplog.at_level(logging.WARNING, logger="aliasdesk.db"):
        assert _rows_after_one_write(path) == 1
    said = [r.getMessage() for r in caplog.records if "write_turns_unavailable" in r.getMessage()]
    assert len(said) == 1
    assert elsewhere.read_text() == "not aliasdesk's\n"


def _rows_after_one_write(path: Path) -> int:
    db = _open_database(path)
    try:
        _create_table(db)
        with db.unit_of_work() as session:
            session.execute(INSERT, {"body": "written all the same"})
        return _count(db)
    finally:
        db.dispose()
