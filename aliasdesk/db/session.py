"""Engines and units of work.

SQLite gets WAL and a busy timeout so the gateway and workers can share one file; every
unit of work is one transaction that commits or rolls back as a whole.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, make_url
from sqlalchemy.orm import Session, sessionmaker

from aliasdesk.db.write_turns import take_turns
from aliasdesk.private_files import private_sqlite_file


class Database:
    """One engine plus a session factory; ``unit_of_work()`` is the only way to write."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.engine = make_engine(url, echo=echo)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        # Readers on SQLite begin a plain (deferred) transaction: in WAL mode they read a
        # snapshot and never need the write lock, so they neither wait for a writer nor
        # keep one waiting.
        readers = self.engine.execution_options(**{READS_ONLY: True})
        self._readers = sessionmaker(readers, expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def unit_of_work(self) -> Iterator[Session]:
        session = self._sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    @contextmanager
    def reader(self) -> Iterator[Session]:
        """A session that only reads (nothing it does is committed)."""
        session = self._readers()
        try:
            yield session
        finally:
            # close() ends the transaction without expiring loaded objects, so callers
            # may read what they fetched after the block.
            session.close()

    @contextmanager
    def snapshot(self) -> Iterator[Connection]:
        """A connection for reads only, in one transaction that is rolled back at the end.

        No ORM session is set up (a page asked for often reads a few columns). Every
        statement in it sees the same state of the database: on SQLite the transaction is
        a deferred one, which takes a read snapshot instead of the write lock every unit
        of work takes first (so readers neither wait for each other nor hold up the
        intake); on PostgreSQL it is a read-only REPEATABLE READ transaction.
        """
        with self.engine.connect() as connection:
            if self.is_sqlite:
                connection.execution_options(**{READS_ONLY: True})
            else:
                connection.execution_options(
                    isolation_level="REPEATABLE READ", postgresql_readonly=True
                )
            yield connection

    def dispose(self) -> None:
        self.engine.dispose()

    def prefer_bulk_writes(self) -> None:
        """Tune this process's SQLite connections for one long stream of writes (``aliasdesk
        import``); a no-op on PostgreSQL. Connections already open are replaced.

        A larger page cache keeps the indexes in memory while mail and attachment bytes
        stream through it (2 MB by default: a batch's bytes pushed the index pages out and
        every lookup read them again), and a longer WAL between checkpoints syncs the disk
        a tenth as often. Measured in A/B runs of 2,000- and 5,000-mail imports: 4 to 9 %
        less of the importer's CPU (medians; single pairs ranged from 15 % less to 4 %
        more). Memory: at most 16 MB per connection; the WAL file grows to about 40 MB
        before it is copied back."""
        if not self.is_sqlite or event.contains(self.engine, "connect", _bulk_pragmas):
            return  # a second import in this process finds them set
        event.listen(self.engine, "connect", _bulk_pragmas)
        self.engine.dispose()


READS_ONLY = "aliasdesk_reads_only"
"""The execution option that marks a connection that only reads (``Database.reader``'s
sessions and ``Database.snapshot``)."""

LARGE_VALUE = 1024 * 1024
"""A value this large bound to a statement (a mail's bytes, an attachment) is not kept."""


def _let_go_of_large_values(engine: Engine) -> None:
    """SQLite keeps its own copy of every value bound to a prepared statement until the
    statement is bound again, and pysqlite keeps up to 128 statements per connection: each
    pooled connection held the last 40 MB mail it stored for as long as it lived, and the
    gateway grew by that much per connection. A connection that bound a large value is
    closed when it goes back to the pool (the next checkout opens a fresh one)."""

    @event.listens_for(engine, "after_cursor_execute")
    def _note(conn: Any, _cursor: Any, _sql: str, params: Any, _ctx: Any, _many: bool) -> None:
        info = conn.connection.info
        # Once marked, the connection is closed at check-in anyway: no need to look again.
        if not info.get("large_values") and _has_large_value(params):
            info["large_values"] = True

    @event.listens_for(engine, "checkin")
    def _close(_dbapi_connection: Any, record: Any) -> None:
        if record is not None and record.info.pop("large_values", False):
            record.invalidate()


_BLOBS = (bytes, memoryview)
_CONTAINERS = (list, tuple, dict)
"""Types as tuples, not ``bytes | memoryview``: the check runs after every statement, and
building and testing a union took twice as long per value."""


BULK_PRAGMAS = ("PRAGMA cache_size=-16000", "PRAGMA wal_autocheckpoint=10000")
"""``Database.prefer_bulk_writes``: a 16 MB page cache, a checkpoint every 10,000 pages."""


def _bulk_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    for pragma in BULK_PRAGMAS:
        cursor.execute(pragma)
    cursor.close()


def _has_large_value(params: Any) -> bool:
    """Whether the parameters (one row or many, as a tuple, list or dict) hold a value of
    LARGE_VALUE bytes or more. Runs after every statement, so it is plain loops."""
    if isinstance(params, _BLOBS):
        return len(params) >= LARGE_VALUE
    if not isinstance(params, _CONTAINERS):
        return False
    for value in params.values() if isinstance(params, dict) else params:
        if isinstance(value, _BLOBS):
            if len(value) >= LARGE_VALUE:
                return True
        elif isinstance(value, _CONTAINERS):
            row = value.values() if isinstance(value, dict) else value
            for item in row:
                if isinstance(item, _BLOBS) and len(item) >= LARGE_VALUE:
                    return True
    return False


def _a_file(database: str | None) -> Path | None:
    """The file of a database in a file of its own (not ``:memory:``, not a ``file:`` URI)."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def make_engine(url: str, *, echo: bool = False) -> Engine:
    if url.startswith("sqlite"):
        database = make_url(url).database
        file = _a_file(database)
        if file is not None:
            private_sqlite_file(file)  # all the mail: 0600, never the umask's
        engine = create_engine(url, echo=echo, connect_args={"timeout": 30})
        turns = take_turns(engine, file) if file is not None else None

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            # Let pysqlite leave transaction control to us, so BEGIN IMMEDIATE works.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            # Take the write lock at the start: two writers never deadlock on upgrade.
            # A reader or a snapshot never writes, so it reads without the lock.
            if conn.get_execution_options().get(READS_ONLY, False):
                conn.exec_driver_sql("BEGIN")
                return
            writer = conn.connection.dbapi_connection
            if turns is not None:
                turns.take(writer)
            try:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            except BaseException:
                if turns is not None:
                    turns.let_go(writer)
                raise

        _let_go_of_large_values(engine)
        return engine
    return create_engine(url, echo=echo, pool_pre_ping=True)
