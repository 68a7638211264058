"""Fixtures for pipeline tests: a runtime on each database with a real SMTP server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from aliasdesk.runtime import Runtime
from tests.support.harness import runtime_for
from tests.support.smtp_script import ScriptedSmtpServer


@pytest.fixture
def smtp() -> Iterator[ScriptedSmtpServer]:
    with ScriptedSmtpServer() as server:
        yield server


@pytest.fixture
def runtime(database_url: str, smtp: ScriptedSmtpServer) -> Iterator[Runtime]:
    rt = runtime_for(database_url, smtp.port)
    yield rt
    rt.close()
