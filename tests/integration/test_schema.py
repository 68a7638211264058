"""The schema is made only by migrations, and the migrations match the models."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

import aliasdesk.db.models  # noqa: F401  (every table on Base.metadata)
from aliasdesk.db import schema
from aliasdesk.db.base import Base
from aliasdesk.db.session import Database
from tests.support.backends import drop_postgres_database, make_postgres_database
from tests.support.fresh_process import printed_by_fresh_process


@pytest.fixture(params=["sqlite", "postgres"])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database: here the migrations themselves must build the schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/empty.db"
        return
    name, url = make_postgres_database(migrated=False)
    yield url
    drop_postgres_database(name)


def test_migrations_build_exactly_the_models(empty_database_url: str) -> None:
    db = Database(empty_database_url)
    try:
        schema.upgrade(db)
        assert schema.is_current(db)
        with db.engine.connect() as connection:
            context = MigrationContext.configure(connection)
            differences = compare_metadata(context, Base.metadata)
            tables = set(inspect(connection).get_table_names())
        assert differences == []
        assert set(Base.metadata.tables) <= tables
        schema.upgrade(db)  # a second upgrade is a no-op
        assert schema.is_current(db)
    finally:
        db.dispose()


def test_open_tickets_are_counted_from_the_owner_and_status_index(tmp_path: Path) -> None:
    """Least-loaded assignment counts each member's open tickets on every batch: SQLite
    must answer from the index alone, without reading the member's closed history."""
    from sqlalchemy import event

    from aliasdesk.db.queries import active_counts

    db = Database(f"sqlite:///{tmp_path}/plan.db")
    try:
        schema.upgrade(db)
        statements: list[tuple[str, tuple[object, ...]]] = []

        def keep(_conn: object, _cursor: object, sql: str, params: object, *_: object) -> None:
            statements.append((sql, tuple(params) if isinstance(params, (list, tuple)) else ()))

        event.listen(db.engine, "before_cursor_execute", keep)
        with db.reader() as session:
            active_counts(session, ["ann@example.com", "bob@example.com"])
        event.remove(db.engine, "before_cursor_execute", keep)
        counting = [s for s in statements if "count(" in s[0].lower()]
        assert len(counting) == 1
        sql, params = counting[0]
        with db.engine.connect() as connection:
            plan = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params).all()
        details = " ".join(str(row[-1]) for row in plan)
        assert "COVERING INDEX ix_tickets_owner_status" in details, details
    finally:
        db.dispose()


def test_the_head_read_without_alembic_is_alembic_s_head() -> None:
    """``is_current`` reads the newest migration file instead of loading Alembic; both
    must name the same revision, or a process would wait for a schema that never comes."""
    from alembic.script import ScriptDirectory

    config = schema.alembic_config("sqlite://")
    assert schema.head_revision() == ScriptDirectory.from_config(config).get_current_head()


@pytest.fixture
def current_schema(tmp_path: Path) -> str:
    """The URL of a SQLite database already at the head, for a new process to start on."""
    url = f"sqlite:///{tmp_path}/probe.db"
    db = Database(url)
    schema.upgrade(db)
    db.dispose()
    return url


def test_a_job_process_learns_the_schema_is_current_without_alembic(current_schema: str) -> None:
    """What a job process of ``run`` loads to wait for the schema and run jobs on the
    embedded broker: neither Alembic nor a broker's client."""
    probe = (
        "import sys\n"
        "from aliasdesk.db import schema\n"
        "from aliasdesk.db.session import Database\n"
        "import aliasdesk.cli.commands, worker.process, worker.dispatch, aliasdesk.cli.run\n"
        f"assert schema.is_current(Database({current_schema!r}))\n"
        "loaded = {m.split('.')[0] for m in sys.modules}\n"
        "print(','.join(sorted(loaded & {'alembic', 'dramatiq', 'redis', 'pika', 'aiosmtpd'})))\n"
    )
    assert printed_by_fresh_process(probe) == ""


def test_a_process_starting_on_a_current_schema_loads_no_alembic(current_schema: str) -> None:
    """Every serving process upgrades the schema as it starts; on a schema already at the
    head that must cost one query, not Alembic's 8 MB for the rest of the process."""
    probe = (
        "import sys\n"
        "from aliasdesk.db import schema\n"
        "from aliasdesk.db.session import Database\n"
        f"db = Database({current_schema!r})\n"
        "schema.upgrade(db)\n"
        "assert schema.is_current(db)\n"
        "print('alembic' in sys.modules)\n"
    )
    assert printed_by_fresh_process(probe) == "False"


def test_mail_stored_before_the_raw_table_keeps_its_bytes(empty_database_url: str) -> None:
    """0013 moves the raw bytes to a table of their own: a desk upgraded with mail still
    waiting, or quarantined, keeps every byte of it, and new mail is stored beside it."""
    from sqlalchemy import select, text

    from aliasdesk.db.models import InboundMail, InboundRaw
    from aliasdesk.services.intake_store import RawMail, store_raw

    db = Database(empty_database_url)
    try:
        schema.upgrade(db, "0012")
        old = [b"Subject: waiting\r\n\r\nstill to do\r\n", b"\x00\xff not even text"]
        with db.engine.begin() as connection:
            for uid, raw in enumerate(old, start=1):
                connection.execute(
                    text(
                        "INSERT INTO inbound_mail (source, mailbox, uidvalidity, uid, raw, size,"
                        " header_only, content_hash, state, send_mail, attempts, received_at)"
                        " VALUES ('imap', 'INBOX', 7, :uid, :raw, :size, false, 'h', 'received',"
                        " true, 0, '2026-12-01 10:00:00+00:00')"
                    ),
                    {"uid": uid, "raw": raw, "size": len(raw)},
                )
        schema.upgrade(db)
        store_raw(db, source="imap", mailbox="INBOX", uidvalidity=7, mails=[RawMail(b"new", 3)])
        with db.reader() as session:
            found = session.execute(
                select(InboundMail.uid, InboundRaw.raw)
                .join(InboundRaw, InboundRaw.id == InboundMail.id)
                .order_by(InboundMail.uid)
            ).all()
        assert [tuple(row) for row in found] == [(1, old[0]), (2, old[1]), (3, b"new")]
    finally:
        db.dispose()
