"""Database and broker fixtures: every backend pair a deployment may use.

PostgreSQL gets a fresh database per test (dropped afterwards); SQLite a file in tmp_path.
A missing server fails the test in CI and skips it locally (tests/support/services.py).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from tests.support.services import port_open, service_missing

PG_HOST = os.environ.get("ALIASDESK_TEST_PG_HOST", "127.0.0.1")
PG_ADMIN = f"postgresql://postgres@{PG_HOST}:5432/postgres"
REDIS_URL = os.environ.get("ALIASDESK_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
RABBIT_URL = os.environ.get("ALIASDESK_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")

__all__ = [
    "RABBIT_URL",
    "REDIS_URL",
    "broker_url",
    "database_url",
    "make_postgres_database",
    "postgres_url",
    "sqlite_url",
]


_template: list[str] = []


def _migrated_template() -> str:
    """A database migrated once per test session; tests get copies (CREATE … TEMPLATE).

    Copying is far cheaper than running the migrations for every test, and the copies
    are still made by the migrations, never by create_all.
    """
    if _template:
        return _template[0]
    import atexit

    import psycopg

    from aliasdesk.db import schema
    from aliasdesk.db.session import Database

    name = f"aliasdesk_template_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    db = Database(f"postgresql+psycopg://postgres@{PG_HOST}:5432/{name}")
    schema.upgrade(db)
    db.dispose()
    _template.append(name)
    atexit.register(drop_postgres_database, name)
    return name


def make_postgres_database(*, migrated: bool = True) -> tuple[str, str]:
    """Create a database (a copy of the migrated template, or empty); returns (name, URL)."""
    import psycopg

    if not port_open(PG_HOST, 5432):
        service_missing("PostgreSQL", f"nothing listens on {PG_HOST}:5432")
    name = f"aliasdesk_test_{uuid.uuid4().hex[:12]}"
    try:
        template = f' TEMPLATE "{_migrated_template()}"' if migrated else ""
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"{template}')
    except psycopg.Error as error:
        service_missing("PostgreSQL", str(error))
    return name, f"postgresql+psycopg://postgres@{PG_HOST}:5432/{name}"


def drop_postgres_database(name: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def sqlite_url(tmp_path: object) -> str:
    return f"sqlite:///{tmp_path}/aliasdesk.db"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    name, url = make_postgres_database()
    yield url
    drop_postgres_database(name)


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Each test using this runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return str(request.getfixturevalue("sqlite_url"))
    return str(request.getfixturevalue("postgres_url"))


def _check_redis() -> None:
    if not port_open("127.0.0.1", 6379):
        service_missing("Redis", "nothing listens on 127.0.0.1:6379")


def _check_rabbit() -> None:
    if not port_open("127.0.0.1", 5672):
        service_missing("RabbitMQ", "nothing listens on 127.0.0.1:5672")


@pytest.fixture(params=["embedded", "redis"])
def broker_url(request: pytest.FixtureRequest) -> str:
    """Each test using this runs on the embedded broker and on Redis."""
    if request.param == "redis":
        _check_redis()
        return REDIS_URL
    return "embedded"
