"""End to end: mail APPENDed to a real IMAP server, ``aliasdesk run --once`` as a user runs
it, acknowledgements received by a real SMTP server; on every backend pair."""

from __future__ import annotations

import email
import email.policy
import json
import os
import shutil
import subprocess
import sys
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from gateway.local_servers import SmtpSink
from tests.support.backends import broker_env
from tests.support.harness import ROUTING, build_mail
from tests.support.servers import ImapTestServer

ROOT = Path(__file__).resolve().parents[2]
ALIASDESK = shutil.which("aliasdesk", path=str(Path(sys.executable).parent)) or "aliasdesk"


def _env(
    imap: ImapTestServer, sink: SmtpSink, database_url: str, broker_url: str
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALIASDESK_")}
    env.update(
        ALIASDESK_DATABASE_URL=database_url,
        ALIASDESK_BROKER_URL=broker_url,
        ALIASDESK_ROUTING_FILE=str(ROUTING),
        ALIASDESK_IMAP_HOST=imap.host,
        ALIASDESK_IMAP_PORT=str(imap.port),
        ALIASDESK_IMAP_USERNAME=imap.username,
        ALIASDESK_IMAP_PASSWORD=imap.password,
        ALIASDESK_IMAP_SECURITY="none",
        ALIASDESK_SMTP_HOST=sink.host,
        ALIASDESK_SMTP_PORT=str(sink.port),
        ALIASDESK_SMTP_SECURITY="none",
    )
    env.update(broker_env(broker_url))
    return env


def _aliasdesk(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [ALIASDESK, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=180
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def _json(env: dict[str, str], *args: str) -> Any:
    return json.loads(_aliasdesk(env, *args, "--json"))


def _parsed(sink: SmtpSink) -> list[tuple[list[str], EmailMessage]]:
    out = []
    for item in sink.messages:
        message = email.message_from_bytes(item.data, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        out.append((list(item.rcpt_tos), message))
    return out


def test_three_requests_become_three_acknowledged_tickets(
    imap_server: ImapTestServer, smtp_sink: SmtpSink, database_url: str, broker_url: str
) -> None:
    env = _env(imap_server, smtp_sink, database_url, broker_url)
    requests = {
        "dave@example.com": build_mail(
            "dave@example.com", "hr@example.com", "Leave form", message_id="<r1@example.com>"
        ),
        "erika@example.com": build_mail(
            "erika@example.com", "it@example.com", "VPN broken", message_id="<r2@example.com>"
        ),
        "sam@example.com": build_mail(
            "sam@example.com", "facilities@example.com", "Heating", message_id="<r3@example.com>"
        ),
    }
    auto_reply = build_mail(
        "olaf@example.com",
        "it@example.com",
        "Out of office",
        headers={"Auto-Submitted": "auto-replied"},
    )
    imap_server.append_many([*requests.values(), auto_reply])

    _aliasdesk(env, "run", "--once")

    tickets = _json(env, "tickets", "list")
    assert sorted(t["ref"] for t in tickets) == ["FAC-1", "HR-1", "IT-1"]
    assert all(t["owner"] for t in tickets)
    sent = _parsed(smtp_sink)
    for requester, raw in requests.items():
        acks = [m for rcpt, m in sent if rcpt == [requester]]
        assert len(acks) == 1, requester
        ack = acks[0]
        request_id = email.message_from_bytes(raw)["Message-ID"]
        assert ack["Subject"].startswith("[") and "-1]" in ack["Subject"]
        assert ack["In-Reply-To"] == request_id
        assert ack["Auto-Submitted"] == "auto-replied"
    assert not [m for rcpt, m in sent if rcpt == ["olaf@example.com"]]
    log = _json(env, "mail", "list")
    assert sorted(e["outcome"] for e in log) == [
        "ignored",
        "new_ticket",
        "new_ticket",
        "new_ticket",
    ]

    count = len(smtp_sink.messages)
    _aliasdesk(env, "run", "--once")
    assert len(smtp_sink.messages) == count
    assert _json(env, "mail", "list") == log
    assert len(_json(env, "tickets", "list")) == 3


def test_the_same_mail_appended_twice_is_one_ticket(
    imap_server: ImapTestServer, smtp_sink: SmtpSink, database_url: str, broker_url: str
) -> None:
    env = _env(imap_server, smtp_sink, database_url, broker_url)
    raw = build_mail(message_id="<twice@example.com>")
    imap_server.append_many([raw, raw])
    _aliasdesk(env, "run", "--once")
    outcomes = sorted(e["outcome"] for e in _json(env, "mail", "list"))
    assert outcomes == ["duplicate", "new_ticket"]
    assert len(_json(env, "tickets", "list")) == 1
    assert len([1 for rcpt, _ in _parsed(smtp_sink) if rcpt == ["dave@example.com"]]) == 1
