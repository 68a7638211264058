"""``aliasdesk lmtp`` as an MTA meets it: a private Postfix delivers the organisation's
domain over its ``lmtp:`` transport (the README's lines) to a real ``aliasdesk lmtp``
process, on SQLite and PostgreSQL. Mail to an alias and a Bcc to another alias opens a
ticket in each department; both requesters' acknowledgements reach the outgoing server.

Needs Postfix (tests/support/postfix.py): skipped locally without it, a failure in CI.
"""

from __future__ import annotations

import json
import os
import shutil
import smtplib
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.local_servers import SmtpSink
from tests.support.dovecot import DovecotServer
from tests.support.harness import ROUTING, build_mail
from tests.support.lmtp_client import lmtp_deliver
from tests.support.postfix import PostfixError, PostfixServer, find_postfix
from tests.support.services import free_port, port_open, service_missing

ROOT = Path(__file__).resolve().parents[2]
ALIASDESK = shutil.which("aliasdesk", path=str(Path(sys.executable).parent)) or "aliasdesk"
REQUESTER = "dave@partner.test"


def lmtp_env(database_url: str, sink: SmtpSink, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALIASDESK_")}
    env.update(
        ALIASDESK_DATABASE_URL=database_url,
        ALIASDESK_ROUTING_FILE=str(ROUTING),
        ALIASDESK_SMTP_HOST=sink.host,
        ALIASDESK_SMTP_PORT=str(sink.port),
        ALIASDESK_SMTP_SECURITY="none",
        ALIASDESK_LMTP_PORT=str(port),
    )
    return env


def aliasdesk_json(env: dict[str, str], *args: str) -> Any:
    result = subprocess.run(
        [ALIASDESK, *args, "--json"], env=env, cwd=ROOT, capture_output=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


@pytest.fixture
def lmtp_process(
    database_url: str, smtp_sink: SmtpSink, tmp_path: Path
) -> Iterator[dict[str, str]]:
    port = free_port()
    env = lmtp_env(database_url, smtp_sink, port)
    log = (tmp_path / "lmtp.log").open("wb")
    process = subprocess.Popen(
        [ALIASDESK, "lmtp"], env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 60
        while not port_open("127.0.0.1", port):
            assert process.poll() is None, (tmp_path / "lmtp.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "aliasdesk lmtp did not listen"
            time.sleep(0.1)
        yield env
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()
        assert process.returncode == 0, (tmp_path / "lmtp.log").read_text()[-3000:]


@pytest.fixture
def postfix(lmtp_process: dict[str, str]) -> Iterator[PostfixServer]:
    if find_postfix() is None:
        service_missing("postfix", "not installed; bash .ci/install-postfix.sh")
    port = lmtp_process["ALIASDESK_LMTP_PORT"]
    server = PostfixServer({}, {"example.com": f"lmtp:inet:127.0.0.1:{port}"})
    try:
        server.start()
    except (PostfixError, OSError, LookupError) as exc:
        server.stop()
        service_missing("postfix", str(exc))
    try:
        yield server
    finally:
        server.stop()


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
    tickets = aliasdesk_json(lmtp_process, "tickets", "list")
    assert sorted(t["department"] for t in tickets) == ["HR", "IT"]
    [entry] = aliasdesk_json(lmtp_process, "mail", "list")
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
    env.update(
        ALIASDESK_IMAP_HOST=dovecot_server.host,
        ALIASDESK_IMAP_PORT=str(dovecot_server.port),
        ALIASDESK_IMAP_USERNAME=dovecot_server.username,
        ALIASDESK_IMAP_PASSWORD=dovecot_server.password,
        ALIASDESK_IMAP_SECURITY="none",
        ALIASDESK_IMAP_POLL_INTERVAL="1",
    )
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
    with (tmp_path / "run.log").open("wb") as log:
        process = subprocess.Popen(
            [ALIASDESK, "run"], env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 60
        while not port_open("127.0.0.1", port):
            assert process.poll() is None and time.monotonic() < deadline, (
                tmp_path / "run.log"
            ).read_text()[-3000:]
            time.sleep(0.1)
        for raw in mails:
            alias = b"it@example.com" if b"No id" in raw else b"hr@example.com"
            dovecot_server.append(b"Delivered-To: " + alias + b"\r\n" + raw)
            assert lmtp_deliver(port, raw, [alias.decode()], sender=REQUESTER).codes == [250]
        while not _all_taken(aliasdesk_json(env, "mail", "list"), 2 * len(mails)):
            assert time.monotonic() < deadline + 60, (tmp_path / "run.log").read_text()[-3000:]
            time.sleep(0.5)
        smtp_sink.wait_for(2 * len(mails), timeout=30)  # acknowledgements and owner notices
        time.sleep(1.0)  # anything doubled would have been sent by now
    finally:
        process.terminate()
        process.wait(timeout=30)
    outcomes = sorted(entry["outcome"] for entry in aliasdesk_json(env, "mail", "list"))
    assert outcomes == ["duplicate"] * len(mails) + ["new_ticket"] * len(mails)
    assert len(aliasdesk_json(env, "tickets", "list")) == len(mails)
    acks = [m for m in smtp_sink.messages if REQUESTER in m.rcpt_tos]
    assert len(acks) == len(mails)


def test_run_with_only_lmtp_needs_no_mailbox(
    sqlite_url: str, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    port = free_port()
    env = lmtp_env(sqlite_url, smtp_sink, port)
    with (tmp_path / "run.log").open("wb") as log:
        process = subprocess.Popen(
            [ALIASDESK, "run"], env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 60
        while not port_open("127.0.0.1", port):
            assert process.poll() is None and time.monotonic() < deadline, (
                tmp_path / "run.log"
            ).read_text()[-3000:]
            time.sleep(0.1)
        raw = build_mail(f"Dave <{REQUESTER}>", "it@example.com", "VPN token")
        assert lmtp_deliver(port, raw, ["it@example.com"], sender=REQUESTER).codes == [250]
        assert smtp_sink.wait_for(2, timeout=30), (tmp_path / "run.log").read_text()[-3000:]
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert process.returncode == 0
    assert [t["department"] for t in aliasdesk_json(env, "tickets", "list")] == ["IT"]


def test_lmtp_without_a_port_is_a_usage_error(sqlite_url: str, smtp_sink: SmtpSink) -> None:
    env = lmtp_env(sqlite_url, smtp_sink, 1)
    del env["ALIASDESK_LMTP_PORT"]
    result = subprocess.run(
        [ALIASDESK, "lmtp"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "ALIASDESK_LMTP_PORT" in result.stderr
