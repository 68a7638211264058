"""Rows written behind the ORM's back: collected while a batch of mail is processed, then
inserted with one statement per table (a multi-row INSERT) instead of one per row.

Why: for the rows the intake writes (a new ticket, its first message and event, watchers,
the assignment job, the dedupe key, the inbound row's outcome) most of the time went to the
ORM's unit-of-work bookkeeping, several times what the database spent on the SQL. Nothing
reads these rows back within the mail that wrote them, so they can wait.

They must never be missed by a reader, so the buffer is written out, like the ORM's own
autoflush, before anything could look for them or point at them (the session's unit of
work, aliasdesk.db.unit_of_work, holds the buffer and writes it out at these moments):

* before every ORM statement on the session (a query may search for them);
* before every ORM flush (an ORM row may reference one of them);
* before every commit, a savepoint's included;
* before a savepoint begins, outside it.

A rollback, of the transaction or of a savepoint, drops whatever is still pending: those
rows were never written, so there is nothing to undo.

A row that others reference by id is a :class:`Draft`: its id is reserved first (see
:func:`_reserve_ids`), so drafts too go in with one multi-row INSERT per table, before the
rows that name them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Table, bindparam, insert, text, update
from sqlalchemy.orm import Session

from aliasdesk.db import direct_writes

__all__ = ["Draft", "RowBuffer", "table_of"]

_FLUSH_BYTES = 8 * 1024 * 1024
"""Write out early past this much pending text and attachment data: memory stays flat on
a backlog of big mails instead of holding a whole batch's attachments."""


_SIZED = (bytes, str)
"""The values whose size counts towards ``_FLUSH_BYTES`` (a tuple: tested per value)."""


class Draft:
    """A row to be inserted whose id other pending rows need; ``id`` is set when the buffer
    is written (reserved just before the row goes in)."""

    __slots__ = ("id", "table", "values")

    def __init__(self, table: Table, values: dict[str, Any]) -> None:
        self.table = table
        self.values = values
        self.id: int | None = None


Row = dict[str, Any]


class RowBuffer:
    """Pending inserts and updates of one session, written out by :meth:`flush`."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._inserts: dict[Table, list[Row | Draft]] = {}
        self._updates: dict[Table, list[Row]] = {}
        self._bytes = 0
        self._flushing = False

    @property
    def pending(self) -> bool:
        return bool(self._inserts or self._updates)

    def insert(self, table: Table, values: Row) -> None:
        """Insert ``values`` into ``table`` later; values may be Drafts (their ids are used)."""
        self._inserts.setdefault(table, []).append(values)
        self._grow(values)

    def draft(self, table: Table, values: Row) -> Draft:
        """Like :meth:`insert`, for a row whose id other rows will need."""
        row = Draft(table, values)
        self._inserts.setdefault(table, []).append(row)
        self._grow(values)
        return row

    def update(self, table: Table, row_id: int, values: Row) -> None:
        """Set ``values`` on the row of ``table`` whose ``id`` is ``row_id``, later."""
        self._updates.setdefault(table, []).append({direct_writes.ROW_ID: row_id, **values})
        self._grow(values)

    def discard(self) -> None:
        self._inserts.clear()
        self._updates.clear()
        self._bytes = 0

    def flush(self, connection: Connection | None = None) -> None:
        """Write every pending row: inserts in dependency order, then updates."""
        if self._flushing or not self.pending:
            return
        self._flushing = True
        try:
            connection = connection or self._session.connection()
            inserts, updates = self._inserts, self._updates
            self._inserts, self._updates, self._bytes = {}, {}, 0
            for table in _in_dependency_order(inserts):
                for rows in _by_columns(inserts[table]):
                    _write_inserts(connection, table, rows)
            for table, rows in updates.items():
                for group in _by_columns(rows):
                    _write_updates(connection, table, group)
        finally:
            self._flushing = False

    def _grow(self, values: Row) -> None:
        for value in values.values():
            if isinstance(value, _SIZED):
                self._bytes += len(value)
        if self._bytes > _FLUSH_BYTES:
            self.flush()


def table_of(model: type[Any]) -> Table:
    """The Table of a mapped class (typed: declarative only promises a FromClause)."""
    table = model.__table__
    assert isinstance(table, Table)
    return table


def _values(row: Row | Draft) -> Row:
    values = row.values if isinstance(row, Draft) else row
    resolved: Row = {}
    for key, value in values.items():
        if isinstance(value, Draft):
            assert value.id is not None, f"{value.table.name} row referenced before written"
            value = value.id
        resolved[key] = value
    return resolved


def _by_columns(rows: list[Any]) -> list[list[Any]]:
    """Rows grouped by the columns they set (one executemany needs one column list), and
    drafts apart from plain rows (only drafts get an id reserved)."""
    groups: dict[tuple[bool, tuple[str, ...]], list[Any]] = {}
    for row in rows:
        is_draft = isinstance(row, Draft)
        values = row.values if is_draft else row
        groups.setdefault((is_draft, tuple(values)), []).append(row)
    return list(groups.values())


def _in_dependency_order(inserts: dict[Table, list[Row | Draft]]) -> list[Table]:
    """Tables ordered so that every draft is written before the rows that name it.

    The pending rows themselves say what depends on what (a job names its ticket without
    a foreign key), so the order is taken from them rather than from the schema.
    """
    needs: dict[Table, set[Table]] = {}
    for table, rows in inserts.items():
        wanted: set[Table] = set()
        for row in rows:
            values = row.values if isinstance(row, Draft) else row
            wanted.update(v.table for v in values.values() if isinstance(v, Draft))
        wanted.discard(table)
        needs[table] = wanted & inserts.keys()
    ordered: list[Table] = []
    while needs:
        ready = [table for table, wanted in needs.items() if not wanted - set(ordered)]
        assert ready, "pending rows reference each other in a cycle"
        for table in ready:
            ordered.append(table)
            del needs[table]
    return ordered


def _write_inserts(connection: Connection, table: Table, rows: list[Row | Draft]) -> None:
    drafts = [row for row in rows if isinstance(row, Draft)]
    if drafts:
        for draft, row_id in zip(drafts, _reserve_ids(connection, table, len(drafts)), strict=True):
            draft.id = row_id
    params = [_values(row) for row in rows]
    if drafts:
        for values, draft in zip(params, drafts, strict=True):
            values["id"] = draft.id
    if direct_writes.applies_to(connection):
        direct_writes.insert_rows(connection, table, tuple(params[0]), params)
    else:
        connection.execute(insert(table), params)


def _reserve_ids(connection: Connection, table: Table, count: int) -> list[int]:
    """Ids for ``count`` new rows, so that the rows go in with one multi-row INSERT.

    RETURNING cannot be trusted to come back in the order of the rows on SQLite, so
    SQLAlchemy would insert drafts one statement each. PostgreSQL hands out sequence values
    that no other transaction will get; on SQLite every unit of work holds the database's
    write lock from its first statement (BEGIN IMMEDIATE, aliasdesk.db.session), so the
    ids after the largest one are free until it commits. The ORM's own inserts (autoincrement)
    come after ours: the buffer is written before any ORM flush.
    """
    if connection.dialect.name == "postgresql":
        statement = text(
            "SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :n)"
        )
        return list(connection.scalars(statement, {"table": table.name, "n": count}))
    largest = direct_writes.largest_id(connection, table)
    return list(range(largest + 1, largest + 1 + count))


def _write_updates(connection: Connection, table: Table, rows: list[Row]) -> None:
    if direct_writes.applies_to(connection):
        direct_writes.update_rows(connection, table, tuple(rows[0]), rows)
        return
    statement = update(table).where(table.c.id == bindparam(direct_writes.ROW_ID))
    connection.execute(statement, rows)
