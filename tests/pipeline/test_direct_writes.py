"""The row buffer's direct path on SQLite (aliasdesk.db.direct_writes) stores exactly what
SQLAlchemy's own executemany stored: the same values, defaults and conversions, the same
errors, and the same care for connections that bound a large value; and the import's bulk-write
settings (``Database.prefer_bulk_writes``)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import exc, text

from aliasdesk.db import direct_writes, schema
from aliasdesk.db.bulk import table_of
from aliasdesk.db.models import Job, StoredAttachment, Ticket, TicketMessage
from aliasdesk.db.session import LARGE_VALUE, Database
from aliasdesk.db.unit_of_work import work_of

TICKETS, MESSAGES, JOBS = table_of(Ticket), table_of(TicketMessage), table_of(Job)
ATTACHMENTS = table_of(StoredAttachment)
NOW = datetime(2024, 5, 6, 9, 30, 15, 123456, tzinfo=UTC)


@pytest.fixture
def db(sqlite_url: str) -> Iterator[Database]:
    database = Database(sqlite_url)
    schema.upgrade(database)
    yield database
    database.dispose()


def _write_batch(db: Database) -> None:
    """Drafts, rows naming them, defaults left to the columns, then updates of both."""
    with db.unit_of_work() as session:
        buffer = work_of(session).rows
        for number in (1, 2, 3):
            ticket = buffer.draft(
                TICKETS,
                {
                    "department": "HR",
                    "number": number,
                    "subject": f"Ünïcode request {number}",
                    "requester": f"r{number}@example.com",
                    "reply_token": f"token{number}",
                    "created_at": NOW + timedelta(seconds=number),
                    "updated_at": NOW,
                    "assigned": number == 2,
                },
            )
            buffer.draft(
                MESSAGES,
                {
                    "ticket_id": ticket,
                    "direction": "in",
                    "from_address": "x@example.com",
                    "text": f"text {number}",
                    "at": NOW,
                },
            )
            buffer.insert(
                JOBS,
                {
                    "kind": "ticket_created",
                    "ticket_id": ticket,
                    "payload": '{"a": 1}',
                    "available_at": NOW,
                    "created_at": NOW,
                },
            )
        session.execute(text("SELECT 1"))  # a query: the buffer is written out before it
        buffer.update(TICKETS, 2, {"status": "resolved", "updated_at": NOW + timedelta(hours=1)})
        buffer.update(TICKETS, 3, {"assigned": True, "owner": None})
        buffer.update(JOBS, 1, {"state": "done", "done_at": NOW})


def _rows(db: Database, table: str) -> list[tuple[Any, ...]]:
    with db.engine.connect() as connection:
        return list(connection.exec_driver_sql(f"SELECT * FROM {table} ORDER BY id"))


def test_rows_written_directly_are_the_rows_sqlalchemy_writes(
    db: Database, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[str] = []
    run = direct_writes._run

    def counted(connection: Any, sql: str, params: Any, *, many: bool) -> Any:
        sent.append(sql)
        return run(connection, sql, params, many=many)

    monkeypatch.setattr(direct_writes, "_run", counted)
    _write_batch(db)
    assert any(sql.startswith("INSERT INTO tickets") for sql in sent)
    assert any(sql.startswith("UPDATE tickets") for sql in sent)
    monkeypatch.undo()
    other = Database(f"sqlite:///{tmp_path}/through-sqlalchemy.db")
    try:
        schema.upgrade(other)
        monkeypatch.setattr(direct_writes, "applies_to", lambda _connection: False)
        _write_batch(other)
        for table in ("tickets", "messages", "jobs"):
            direct, through = _rows(db, table), _rows(other, table)
            assert len(direct) == 3
            assert direct == through, table
    finally:
        other.dispose()
    with db.engine.connect() as connection:  # what the columns filled in themselves
        first = connection.exec_driver_sql(
            "SELECT status, priority, reopen_count, assigned, requester_name FROM tickets"
        ).first()
    assert tuple(first or ()) == ("new", "normal", 0, 0, "")


def test_a_default_stamp_is_taken_per_row_when_written(db: Database) -> None:
    before = datetime.now(UTC).replace(tzinfo=None)
    with db.unit_of_work() as session:
        work_of(session).rows.insert(JOBS, {"kind": "digest", "payload": "{}"})
    after = datetime.now(UTC).replace(tzinfo=None)
    with db.engine.connect() as connection:
        stamps = connection.exec_driver_sql("SELECT available_at, created_at FROM jobs").one()
    for stamp in stamps:
        assert before <= datetime.fromisoformat(stamp) <= after


def _ticket(number: int) -> dict[str, Any]:
    return {
        "department": "HR",
        "number": number,
        "subject": "Scan",
        "requester": "r@example.com",
        "reply_token": f"token{number}",
        "created_at": NOW,
        "updated_at": NOW,
    }


def test_a_duplicate_key_raises_sqlalchemys_integrity_error(db: Database) -> None:
    with db.unit_of_work() as session:
        work_of(session).rows.insert(TICKETS, _ticket(1))
    with pytest.raises(exc.IntegrityError, match="UNIQUE"), db.unit_of_work() as session:
        work_of(session).rows.insert(TICKETS, _ticket(1))
        session.execute(text("SELECT 1"))
    assert len(_rows(db, "tickets")) == 1


def test_a_large_value_written_directly_still_closes_its_connection(db: Database) -> None:
    with db.unit_of_work() as session:
        first = session.connection().connection.dbapi_connection
        buffer = work_of(session).rows
        ticket = buffer.draft(TICKETS, _ticket(1))
        message = buffer.draft(
            MESSAGES,
            {
                "ticket_id": ticket,
                "direction": "in",
                "from_address": "r@example.com",
                "text": "See the scan.",
                "at": NOW,
            },
        )
        buffer.insert(
            ATTACHMENTS,
            {
                "message_id": message,
                "filename": "scan.pdf",
                "content_type": "application/pdf",
                "size": LARGE_VALUE,
                "data": b"x" * LARGE_VALUE,
            },
        )
    with db.unit_of_work() as session:
        assert session.connection().connection.dbapi_connection is not first
    with db.unit_of_work() as session:
        small = session.connection().connection.dbapi_connection
    with db.unit_of_work() as session:
        assert session.connection().connection.dbapi_connection is small
    assert [row[4] for row in _rows(db, "attachments")] == [LARGE_VALUE]


def test_bulk_write_settings_are_applied_once_per_engine(db: Database) -> None:
    """``prefer_bulk_writes`` replaces the open connections the first time only: a second
    import in the same process keeps its warm connections."""
    db.prefer_bulk_writes()
    with db.unit_of_work() as session:
        first = session.connection().connection.dbapi_connection
        assert session.execute(text("PRAGMA cache_size")).scalar_one() == -16000
    db.prefer_bulk_writes()
    with db.unit_of_work() as session:
        assert session.connection().connection.dbapi_connection is first
