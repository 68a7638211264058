"""The row buffer's statements on SQLite, handed to the driver without SQLAlchemy's
per-statement and per-row execution machinery.

Why: a 5,000-mail import wrote its buffered rows 2,833 times (every lookup a later mail
makes writes them out first), in about 4,500 statements of a few rows each. Per statement,
SQLAlchemy built an execution context, a cache key and every row's parameters anew, and
checked every value for size afterwards: under a profiler, more than three times what
SQLite spent on the rows themselves. Here each (table, columns) statement is compiled by
SQLAlchemy once, with its Python-side defaults and type conversions listed, and each row
becomes one tuple.

What SQLAlchemy did around the statement is kept: the same SQL and parameters in the same
order; column defaults computed per row as it computes them; values converted by the same
type processors (timestamps, booleans); the engine's cursor events fired around each
statement (so a connection that bound a large value is still closed at check-in,
aliasdesk.db.session); a driver error raised as SQLAlchemy's own (``IntegrityError`` for a
duplicate key, as callers expect). The statements run on the transaction's own driver
connection, inside the write lock it already holds.

PostgreSQL keeps the ordinary path: its driver takes named parameters, and the mail side's
figures that matter most are measured on the embedded SQLite.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, Table, bindparam, exc, insert, update
from sqlalchemy.engine import Dialect

__all__ = ["applies_to", "insert_rows", "largest_id", "update_rows"]

ROW_ID = "_row_id"
"""The parameter an update row names its row by (``RowBuffer.update`` sets it)."""


@dataclass(frozen=True)
class _Prepared:
    """One compiled statement: its SQL and, per positional parameter, where the value
    comes from (a row's key, or a column default) and how it is converted."""

    sql: str
    keys: tuple[str, ...]
    defaults: tuple[tuple[int, Callable[[], Any]], ...]
    """(position, make) for parameters the row does not give: a column's default."""
    processors: tuple[tuple[int, Callable[[Any], Any]], ...]
    """(position, convert) for parameters whose type converts them for the driver."""


def applies_to(connection: Connection) -> bool:
    """Whether the buffer's writes on ``connection`` take this path (SQLite's driver)."""
    return connection.dialect.name == "sqlite"


def insert_rows(
    connection: Connection, table: Table, keys: tuple[str, ...], rows: list[Any]
) -> None:
    """INSERT ``rows`` (dicts with exactly ``keys``) into ``table`` in one executemany."""
    prepared = _prepared_insert(connection.dialect, table, keys)
    _execute_many(connection, prepared, rows)


def update_rows(
    connection: Connection, table: Table, keys: tuple[str, ...], rows: list[Any]
) -> None:
    """UPDATE ``table`` SET the ``keys`` of each row WHERE id is its ``_row_id``."""
    prepared = _prepared_update(connection.dialect, table, keys)
    _execute_many(connection, prepared, rows)


def largest_id(connection: Connection, table: Table) -> int:
    """The largest id in ``table`` (0 when empty), asked of the driver directly."""
    name = connection.dialect.identifier_preparer.format_table(table)
    sql = f"SELECT coalesce(max(id), 0) FROM {name}"
    return int(_run(connection, sql, (), many=False)[0])


def _execute_many(connection: Connection, prepared: _Prepared, rows: list[Any]) -> None:
    _run(connection, prepared.sql, [_row_params(prepared, row) for row in rows], many=True)


def _run(connection: Connection, sql: str, params: Any, *, many: bool) -> Any:
    """``sql`` on the transaction's driver connection, with the engine's cursor events
    around it as SQLAlchemy fires them (the large-value check of aliasdesk.db.session, and
    whatever else listens); returns the first row of a query."""
    dispatch = connection.dispatch
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        for listener in dispatch.before_cursor_execute:
            listener(connection, cursor, sql, params, None, many)
        try:
            if many:
                cursor.executemany(sql, params)
            else:
                cursor.execute(sql, params)
        except connection.dialect.loaded_dbapi.Error as error:
            raise _wrapped(connection.dialect, sql, params, error) from error
        for listener in dispatch.after_cursor_execute:
            listener(connection, cursor, sql, params, None, many)
        return None if many else cursor.fetchone()
    finally:
        cursor.close()


def _row_params(prepared: _Prepared, row: Any) -> tuple[Any, ...]:
    values = [row[key] if key else None for key in prepared.keys]
    for position, make in prepared.defaults:
        values[position] = make()
    for position, convert in prepared.processors:
        values[position] = convert(values[position])
    return tuple(values)


def _wrapped(dialect: Dialect, sql: str, params: Any, error: Exception) -> exc.StatementError:
    """The driver's error as SQLAlchemy raises it (IntegrityError, OperationalError, ...)."""
    return exc.DBAPIError.instance(sql, params, error, dialect.loaded_dbapi.Error, dialect=dialect)


@lru_cache(maxsize=256)
def _prepared_insert(dialect: Dialect, table: Table, keys: tuple[str, ...]) -> _Prepared:
    compiled = insert(table).compile(dialect=dialect, column_keys=list(keys))
    defaults = {column.key: column.default for column in compiled.insert_prefetch}
    return _prepare(dialect, str(compiled), compiled, keys, defaults)


@lru_cache(maxsize=256)
def _prepared_update(dialect: Dialect, table: Table, keys: tuple[str, ...]) -> _Prepared:
    statement = update(table).where(table.c.id == bindparam(ROW_ID))
    compiled = statement.compile(dialect=dialect, column_keys=list(keys))
    if compiled.update_prefetch:  # an onupdate default: not worth a second path
        raise NotImplementedError(f"{table.name}: columns with onupdate defaults")
    return _prepare(dialect, str(compiled), compiled, keys, {})


def _prepare(
    dialect: Dialect, sql: str, compiled: Any, keys: tuple[str, ...], defaults: dict[str, Any]
) -> _Prepared:
    order = tuple(compiled.positiontup)
    given = set(keys)
    sources: list[str] = []
    made: list[tuple[int, Callable[[], Any]]] = []
    processors: list[tuple[int, Callable[[Any], Any]]] = []
    for position, name in enumerate(order):
        if name in given:
            sources.append(name)
        elif name in defaults:
            sources.append("")
            made.append((position, _default_maker(defaults[name])))
        else:
            raise ValueError(f"{sql}: no value for parameter {name}")
        convert = compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)
        if convert is not None:
            processors.append((position, convert))
    return _Prepared(sql, tuple(sources), tuple(made), tuple(processors))


def _default_maker(default: Any) -> Callable[[], Any]:
    """A column default as a call per row, as SQLAlchemy evaluates it for each row."""
    if default.is_scalar:
        value = default.arg
        return lambda: value
    if default.is_callable:
        make = default.arg  # wrapped by SQLAlchemy to take the execution context
        return lambda: make(None)
    raise NotImplementedError(f"column default {default!r}")
