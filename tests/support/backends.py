"""Database and broker fixtures: every backend pair a deployment may use.

PostgreSQL gets a fresh database per test (dropped afterwards); SQLite a file in tmp_path.
A missing server fails the test in CI and skips it locally (tests/support/services.py).

Redis is shared by every test run on the machine, so each pytest process gets a Dramatiq
namespace of its own (``BROKER_NAMESPACE``): its brokers, and the processes its tests start
(``broker_env``), read and write only keys under that prefix, and clean-up deletes only
those keys (``clear_namespace``), never FLUSHDB. Two runs at once cannot take, or wipe,
each other's jobs.
"""

from __future__ import annotations

import os
import re
import secrets
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from tests.support.services import port_open, service_missing

if TYPE_CHECKING:
    import dramatiq

PG_HOST = os.environ.get("ALIASDESK_TEST_PG_HOST", "127.0.0.1")
PG_ADMIN = f"postgresql://postgres@{PG_HOST}:5432/postgres"
REDIS_URL = os.environ.get("ALIASDESK_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
RABBIT_URL = os.environ.get("ALIASDESK_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
BROKER_NAMESPACE = f"aliasdesk-test-{os.getpid()}-{secrets.token_hex(4)}"
"""This pytest process's prefix for Dramatiq's Redis keys (a fresh one in every process)."""

__all__ = [
    "BROKER_NAMESPACE",
    "RABBIT_URL",
    "REDIS_URL",
    "broker_env",
    "broker_url",
    "clear_namespace",
    "database_url",
    "make_postgres_database",
    "namespace_keys",
    "namespaced_broker",
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


def _is_redis(url: str) -> bool:
    return url.startswith(("redis://", "rediss://"))


def broker_env(broker_url: str) -> dict[str, str]:
    """What a process started by a test needs on top of ALIASDESK_BROKER_URL: on Redis,
    this run's namespace (RabbitMQ has none, and the embedded broker no shared server)."""
    return {"ALIASDESK_BROKER_NAMESPACE": BROKER_NAMESPACE} if _is_redis(broker_url) else {}


def namespaced_broker(url: str) -> dramatiq.Broker:
    """``make_broker`` as the processes of this run see it: Redis in this run's namespace."""
    from worker.broker import make_broker

    return make_broker(url, BROKER_NAMESPACE) if _is_redis(url) else make_broker(url)


def namespace_keys(url: str, namespace: str = BROKER_NAMESPACE) -> list[bytes]:
    """Every Redis key Dramatiq keeps for ``namespace`` in the database of ``url``.

    Dramatiq's keys are ``<namespace>:<name>`` with no colon in ``<name>``, so the keys of a
    namespace "a:b" are never taken for those of "a".
    """
    import redis

    prefix = f"{namespace}:".encode()
    pattern = re.sub(r"([*?\[\]\\])", r"\\\1", namespace) + ":*"
    client = redis.Redis.from_url(url)
    try:
        keys = client.scan_iter(match=pattern, count=1000)
        return [key for key in keys if b":" not in key[len(prefix) :]]
    finally:
        client.close()


def clear_namespace(url: str, namespace: str = BROKER_NAMESPACE) -> int:
    """Delete the keys of ``namespace`` (only those: other runs share the server)."""
    import redis

    keys = namespace_keys(url, namespace)
    if keys:
        client = redis.Redis.from_url(url)
        try:
            client.delete(*keys)
        finally:
            client.close()
    return len(keys)


@pytest.fixture(params=["embedded", "redis"])
def broker_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """Each test using this runs on the embedded broker and on Redis (this run's namespace:
    hand ``broker_env(broker_url)`` to the processes the test starts)."""
    if request.param != "redis":
        yield "embedded"
        return
    _check_redis()
    clear_namespace(REDIS_URL)
    yield REDIS_URL
    clear_namespace(REDIS_URL)
