"""The desk the by-mail tests of reply commands and privacy share: HR keeps closed
tickets 30 days, IT is one member; on each IMAP server and each database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.local_servers import SmtpSink
from tests.support.mail_desk import MailDesk, open_desk
from tests.support.servers import ImapTestServer

OURS = "mx.example.com"
"""The receiving server whose Authentication-Results the desk trusts."""
ROUTING = """\
organisation: {name: Example Corp, domains: [example.com]}
departments:
  HR:
    name: Human Resources
    aliases: [hr@example.com]
    members: [alice@example.com, bob@example.com]
    assignment: fixed:alice@example.com
    retention: 30d
  IT:
    name: IT Support
    aliases: [it@example.com]
    members: [carol@example.com]
    assignment: fixed:carol@example.com
"""


@pytest.fixture
def mail_desk(
    imap_server: ImapTestServer, smtp_sink: SmtpSink, database_url: str, tmp_path: Path
) -> Iterator[MailDesk]:
    routing = tmp_path / "routing.yaml"
    routing.write_text(ROUTING)
    with open_desk(imap_server, smtp_sink, database_url, routing, authserv_id=OURS) as desk:
        yield desk
