"""Server fixtures: real IMAP servers (pymap, Dovecot), an SMTP sink and a scripted SMTP
server (``smtp``: answers as a test tells it to, e.g. 451 or a dropped connection).

Every IMAP fixture gives a fresh server process per test (pymap starts in about 0.4 s, Dovecot in
about 0.03 s), so tests never see each other's mail and may restart or break their server freely.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Iterator
from typing import Protocol

import pytest

from gateway.imap import ImapConfig, Security
from gateway.local_servers import LocalImapServer, SmtpSink
from tests.support.dovecot import DovecotError, DovecotServer, find_dovecot
from tests.support.services import service_missing
from tests.support.smtp_script import ScriptedSmtpServer

__all__ = [
    "IMAP_BACKENDS",
    "ImapTestServer",
    "dovecot_server",
    "dovecot_tls_server",
    "imap_config_for",
    "imap_server",
    "pymap_server",
    "smtp",
    "smtp_sink",
]

IMAP_BACKENDS = ["pymap", pytest.param("dovecot", marks=pytest.mark.dovecot)]


class ImapTestServer(Protocol):
    """What the IMAP tests need from a server, whichever one it is."""

    host: str
    port: int
    username: str
    password: str

    def append(self, raw: bytes, folder: str = "INBOX") -> None: ...

    def append_many(self, raws: Iterable[bytes], folder: str = "INBOX") -> None: ...

    def restart(self) -> None: ...


def imap_config_for(
    server: ImapTestServer,
    *,
    security: Security = "none",
    folder: str = "INBOX",
    processed_folder: str | None = None,
    timeout: float = 10.0,
) -> ImapConfig:
    """An ImapConfig pointing at a test server (plain text: it is loopback only)."""
    return ImapConfig(
        host=server.host,
        port=server.port,
        username=server.username,
        password=server.password,
        security=security,
        folder=folder,
        processed_folder=processed_folder,
        timeout=timeout,
    )


@pytest.fixture
def pymap_server() -> Iterator[LocalImapServer]:
    server = LocalImapServer(username="aliasdesk", password="aliasdesk-secret")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def dovecot_server() -> Iterator[DovecotServer]:
    if find_dovecot() is None:
        service_missing("dovecot", "binary not found; apt-get install dovecot-imapd")
    server = DovecotServer()
    try:
        server.start()
    except DovecotError as exc:
        server.cleanup()
        service_missing("dovecot", str(exc))
    try:
        yield server
    finally:
        server.cleanup()


@pytest.fixture
def dovecot_tls_server() -> Iterator[DovecotServer]:
    """Dovecot with a self-signed certificate: STARTTLS on ``port``, implicit TLS on
    ``tls_port``; trust it with ``ssl.create_default_context(cafile=str(server.cert_path))``."""
    if find_dovecot() is None:
        service_missing("dovecot", "binary not found; apt-get install dovecot-imapd")
    if shutil.which("openssl") is None:
        service_missing("openssl", "needed to make the test certificate")
    server = DovecotServer(tls=True)
    try:
        server.start()
    except DovecotError as exc:
        server.cleanup()
        service_missing("dovecot", str(exc))
    try:
        yield server
    finally:
        server.cleanup()


@pytest.fixture(params=IMAP_BACKENDS)
def imap_server(request: pytest.FixtureRequest) -> ImapTestServer:
    """The same test against pymap and against Dovecot."""
    server: ImapTestServer = request.getfixturevalue(f"{request.param}_server")
    return server


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    with SmtpSink() as sink:
        yield sink


@pytest.fixture
def smtp() -> Iterator[ScriptedSmtpServer]:
    with ScriptedSmtpServer() as server:
        yield server
