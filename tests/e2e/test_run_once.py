"""End to end: mail APPENDed to a real IMAP server, ``aliasdesk run --once`` as a user runs
it, acknowledgements received by a real SMTP server; on every backend pair."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage

from gateway.local_servers import SmtpSink
from tests.support.aliasdesk_process import cli, cli_json, mail_env
from tests.support.backends import broker_env
from tests.support.harness import build_mail
from tests.support.servers import ImapTestServer


def _env(
    imap: ImapTestServer, sink: SmtpSink, database_url: str, broker_url: str
) -> dict[str, str]:
    env = mail_env(database_url, sink.host, sink.port, imap=imap)
    env.update(ALIASDESK_BROKER_URL=broker_url, **broker_env(broker_url))
    return env


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

    cli(env, "run", "--once")

    tickets = cli_json(env, "tickets", "list")
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
    log = cli_json(env, "mail", "list")
    assert sorted(e["outcome"] for e in log) == [
        "ignored",
        "new_ticket",
        "new_ticket",
        "new_ticket",
    ]

    count = len(smtp_sink.messages)
    cli(env, "run", "--once")
    assert len(smtp_sink.messages) == count
    assert cli_json(env, "mail", "list") == log
    assert len(cli_json(env, "tickets", "list")) == 3


def test_the_same_mail_appended_twice_is_one_ticket(
    imap_server: ImapTestServer, smtp_sink: SmtpSink, database_url: str, broker_url: str
) -> None:
    env = _env(imap_server, smtp_sink, database_url, broker_url)
    raw = build_mail(message_id="<twice@example.com>")
    imap_server.append_many([raw, raw])
    cli(env, "run", "--once")
    outcomes = sorted(e["outcome"] for e in cli_json(env, "mail", "list"))
    assert outcomes == ["duplicate", "new_ticket"]
    assert len(cli_json(env, "tickets", "list")) == 1
    assert len([1 for rcpt, _ in _parsed(smtp_sink) if rcpt == ["dave@example.com"]]) == 1
