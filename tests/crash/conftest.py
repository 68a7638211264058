"""Fixtures for the crash and fault tests: backend pairs, a private Redis database, a
Dovecot mailbox and a folder for the processes' logs.

Redis is shared with everyone on the machine, so these tests use one database number of
their own (``ALIASDESK_TEST_REDIS_DB``, default 13) and, in it, this pytest process's
Dramatiq namespace (tests/support/backends.py), whose keys are deleted before and after
each test: never FLUSHDB or FLUSHALL (another run may be using the same database), never a
restart of the server.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.crash.procs import Progress
from tests.support.backends import (
    clear_namespace,
    drop_postgres_database,
    make_postgres_database,
)
from tests.support.services import port_open, service_missing

REDIS_DB = int(os.environ.get("ALIASDESK_TEST_REDIS_DB", "13"))

__all__ = ["REDIS_DB", "Backends", "backends", "log_dir", "postgres_db", "redis_db"]


@dataclass
class Backends:
    """A database and a broker for one test, with a read-only progress probe."""

    label: str
    database_url: str
    broker_url: str
    progress: Progress


@pytest.fixture
def redis_db() -> Iterator[str]:
    if not port_open("127.0.0.1", 6379):
        service_missing("Redis", "nothing listens on 127.0.0.1:6379")
    url = f"redis://127.0.0.1:6379/{REDIS_DB}"
    clear_namespace(url)
    yield url
    clear_namespace(url)


@pytest.fixture
def postgres_db() -> Iterator[tuple[str, str]]:
    """(database name, SQLAlchemy URL) of a fresh database, dropped afterwards."""
    name, url = make_postgres_database()
    yield name, url
    drop_postgres_database(name)


def _pair(request: pytest.FixtureRequest, tmp_path: Path, label: str) -> Backends:
    if label == "sqlite-embedded":
        url, broker = f"sqlite:///{tmp_path}/aliasdesk.db", "embedded"
    else:
        _name, url = request.getfixturevalue("postgres_db")
        broker = request.getfixturevalue("redis_db")
    return Backends(label, url, broker, Progress(url))


@pytest.fixture(params=["sqlite-embedded", "postgres-redis"])
def backends(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backends]:
    pair = _pair(request, tmp_path, str(request.param))
    yield pair
    pair.progress.close()


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    path = tmp_path / "logs"
    path.mkdir()
    return path
