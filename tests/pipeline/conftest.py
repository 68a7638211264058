"""Fixtures for pipeline tests: a runtime on each database with a real SMTP server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event

from aliasdesk.runtime import Runtime
from tests.support.harness import runtime_for
from tests.support.smtp_script import ScriptedSmtpServer

AUTHSERV_ID = "mx.example.com"
"""The receiving server the pipeline tests trust for Authentication-Results."""


@pytest.fixture
def runtime(database_url: str, smtp: ScriptedSmtpServer) -> Iterator[Runtime]:
    rt = runtime_for(database_url, smtp.port, authserv_id=AUTHSERV_ID)
    yield rt
    rt.close()


@pytest.fixture
def statements(runtime: Runtime) -> Iterator[list[str]]:
    """Every SQL statement the runtime's engine sends while the test runs."""
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        seen.append(statement)

    event.listen(runtime.db.engine, "before_cursor_execute", count)
    yield seen
    event.remove(runtime.db.engine, "before_cursor_execute", count)
