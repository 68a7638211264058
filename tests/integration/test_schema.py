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
