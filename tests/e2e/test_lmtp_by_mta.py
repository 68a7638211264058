"""``aliasdesk lmtp`` as an MTA meets it: a private Postfix delivers the organisation's
domain over its ``lmtp:`` transport (the README's lines) to a real ``aliasdesk lmtp``
process, on SQLite and PostgreSQL. Mail to an alias and a Bcc to another alias opens a
ticket in each department; both requesters' acknowledgements reach the outgoing server.

Needs Postfix (tests/support/postfix.py): skipped locally without it, a failure in CI.
"""

from __future__ import annotations

import smtplib
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.local_servers import SmtpSink
from tests.support.aliasdesk_process import ALIASDESK, cli_json, listening, mail_env
from tests.support.dovecot import DovecotServer
from tests.support.harness import ROOT, build_mail
from tests.support.lmtp_client import lmtp_deliver
from tests.support.postfix import PostfixServer, running_postfix
from tests.support.services import free_port

REQUESTER = "dave@partner.test"


def lmtp_env(database_url: str, sink: SmtpSink, port: int) -> dict[str, str]:
    return mail_env(database_url, sink.host, sink.port, ALIASDESK_LMTP_PORT=str(port))


@pytest.fixture
def lmtp_process(
    database_url: str, smtp_sink: SmtpSink, tmp_path: Path
) -> Iterator[dict[str, str]]:
    port = free_port()
    env = lmtp_env(database_url, smtp_sink, port)
    with listening(["lmtp"], env, port, tmp_path / "lmtp.log") as process:
        yield env
    assert process.returncode == 0, (tmp_path / "lmtp.log").read_text()[-3000:]


@pytest.fixture
def postfix(lmtp_process: dict[str, str]) -> Iterator[PostfixServer]:
    port = lmtp_process["ALIASDESK_LMTP_PORT"]
    with running_postfix({}, {"example.com": f"lmtp:inet:127.0.0.1:{port}"}) as server:
        yield server


def test_postfix_delivers_over_lmtp_and_bcc_aliases_route_as_delivered_to(
    lmtp_process: dict[str, str], postfix: PostfixServer, smtp_sink: SmtpSink
) -> None:
    raw = build_mail(f"Dave <{REQUESTER}>", "hr@example.com", "New starter on Monday")
    with smtplib.SMTP(postfix.host, postfix.port, timeout=30) as client:
        refused = client.sendmail(REQUESTER, ["hr@example.com", "it@example.com"], raw)
    assert refused == {}
    deadline = time.monotonic() + 60
    while len([m for m in smtp_sink.messages if REQUESTER in m.rcpt_tos]) < 2:
        assert time.monotonic() < deadline, f"no acknowledgements; postfix:\n{postfix.log[-3000:]}"
        time.sleep(0.2)
    tickets = cli_json(lmtp_process, "tickets", "list")
    assert sorted(t["department"] for t in tickets) == ["HR", "IT"]
    [entry] = cli_json(lmtp_process, "mail", "list")
    assert entry["outcome"] == "new_ticket"
    port = lmtp_process["ALIASDESK_LMTP_PORT"]
    assert f"relay=127.0.0.1[127.0.0.1]:{port}" in postfix.log
    assert postfix.log.count("status=sent") == 2  # one per recipient, as LMTP reports them


def _all_taken(entries: list[dict[str, Any]], count: int) -> bool:
    return len(entries) >= count and all(e["outcome"] != "received" for e in entries)


@pytest.mark.dovecot
def test_run_with_imap_and_lmtp_side_by_side_opens_one_ticket_per_mail(
    database_url: str, smtp_sink: SmtpSink, dovecot_server: DovecotServer, tmp_path: Path
) -> None:
    """A migration: the MTA delivers to the mailbox and over LMTP at once. ``run`` reads
    both; each mail opens one ticket and gets one acknowledgement, whichever way won."""
    port = free_port()
    env = lmtp_env(database_url, smtp_sink, port)
    env.update(mail_env(database_url, smtp_sink.host, smtp_sink.port, imap=dovecot_server))
    env.update(ALIASDESK_IMAP_POLL_INTERVAL="1")
    mails = [build_mail(f"Dave <{REQUESTER}>", "hr@example.com", f"Request {n}") for n in range(6)]
    # Two without a Message-ID: known by their bytes below the delivery headers, which
    # differ between the mailbox's copy and the LMTP copy.
    mails += [
        b"".join(
            line
            for line in build_mail(
                f"Dave <{REQUESTER}>", "it@example.com", f"No id {n}"
            ).splitlines(keepends=True)
            if not line.startswith(b"Message-ID:")
        )
        for n in range(2)
    ]
    log = tmp_path / "run.log"
    with listening(["run"], env, port, log):
        deadline = time.monotonic() + 60
        for raw in mails:
            alias = b"it@example.com" if b"No id" in raw else b"hr@example.com"
            dovecot_server.append(b"Delivered-To: " + alias + b"\r\n" + raw)
            assert lmtp_deliver(port, raw, [alias.decode()], sender=REQUESTER).codes == [250]
        while not _all_taken(cli_json(env, "mail", "list"), 2 * len(mails)):
            assert time.monotonic() < deadline + 60, log.read_text()[-3000:]
            time.sleep(0.5)
        smtp_sink.wait_for(2 * len(mails), timeout=30)  # acknowledgements and owner notices
        time.sleep(1.0)  # anything doubled would have been sent by now
    outcomes = sorted(entry["outcome"] for entry in cli_json(env, "mail", "list"))
    assert outcomes == ["duplicate"] * len(mails) + ["new_ticket"] * len(mails)
    assert len(cli_json(env, "tickets", "list")) == len(mails)
    acks = [m for m in smtp_sink.messages if REQUESTER in m.rcpt_tos]
    assert len(acks) == len(mails)


def test_run_with_only_lmtp_needs_no_mailbox(
    sqlite_url: str, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    port = free_port()
    env = lmtp_env(sqlite_url, smtp_sink, port)
    log = tmp_path / "run.log"
    with listening(["run"], env, port, log) as process:
        raw = build_mail(f"Dave <{REQUESTER}>", "it@example.com", "VPN token")
        assert lmtp_deliver(port, raw, ["it@example.com"], sender=REQUESTER).codes == [250]
        assert smtp_sink.wait_for(2, timeout=30), log.read_text()[-3000:]
    assert process.returncode == 0
    assert [t["department"] for t in cli_json(env, "tickets", "list")] == ["IT"]


def test_lmtp_without_a_port_is_a_usage_error(sqlite_url: str, smtp_sink: SmtpSink) -> None:
    env = lmtp_env(sqlite_url, smtp_sink, 1)
    del env["ALIASDESK_LMTP_PORT"]
    result = subprocess.run(
        [ALIASDESK, "lmtp"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "ALIASDESK_LMTP_PORT" in result.stderr
