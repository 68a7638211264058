"""The schema is made only by migrations, and the migrations match the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from aliasdesk.db import schema
from aliasdesk.db.models import Base
from aliasdesk.db.session import Database


def test_migrations_build_exactly_the_models(database_url: str) -> None:
    db = Database(database_url)
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
