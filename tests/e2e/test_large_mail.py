"""Large mail end to end: ``aliasdesk run --once`` holds mail over ALIASDESK_MAX_MAIL_BYTES in
the mailbox and quarantines it on its header; ``aliasdesk gateway`` takes in large mail one
byte-bounded batch at a time, and its peak memory is measured from the outside."""

from __future__ import annotations

import base64
import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
from sqlalchemy import create_engine, func, select

from aliasdesk.db.models import InboundMail
from gateway.local_servers import SmtpSink
from tests.e2e.test_import import MAILS, as_eml_folder, as_maildir, as_mbox, env_for, ok
from tests.e2e.test_run_once import _env
from tests.integration.test_poller import unflagged
from tests.support.aliasdesk_process import ALIASDESK, ROOT, cli, cli_json
from tests.support.dovecot import DovecotServer
from tests.support.harness import build_mail
from tests.support.servers import ImapTestServer

MB = 1024 * 1024


def big_request(n: int, size: int, files: int) -> bytes:
    """A request of about ``size`` bytes: a line of text and ``files`` random attachments."""
    head = build_mail(
        subject=f"Scans, part {n}",
        body="",
        message_id=f"<scans-{n}@example.com>",
        headers={"X-Part": str(n)},
    ).replace(
        b"Content-Type: text/plain; charset=utf-8", b'Content-Type: multipart/mixed; boundary="B"'
    )
    parts = [
        head.rstrip(b"\r\n") + b"\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\nSee the scans.\r\n"
    ]
    data = os.urandom(size * 3 // 4 // files)
    encoded = base64.encodebytes(data).replace(b"\n", b"\r\n")
    for i in range(files):
        parts.append(
            b"--B\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n"
            + f'Content-Disposition: attachment; filename="scan-{i}.pdf"\r\n\r\n'.encode()
            + encoded
        )
    return b"".join(parts) + b"--B--\r\n"


def test_run_once_quarantines_mail_over_the_limit_and_leaves_it_in_the_mailbox(
    imap_server: ImapTestServer, smtp_sink: SmtpSink, database_url: str
) -> None:
    env = _env(imap_server, smtp_sink, database_url, "embedded")
    env["ALIASDESK_MAX_MAIL_BYTES"] = str(256 * 1024)
    big = big_request(1, 400_000, files=1)
    imap_server.append_many([build_mail(subject="Leave form"), big])
    waiting = unflagged(imap_server)
    cli(env, "run", "--once")
    cli(env, "run", "--once")  # the held mail is found again, and not held twice
    [held] = cli_json(env, "quarantine", "list")
    assert held["size"] == len(big)
    assert held["message_id"] == "<scans-1@example.com>"
    assert held["from"] == "dave@example.com" and held["subject"] == "Scans, part 1"
    assert f"{len(big):,} bytes" in held["reason"] and "262,144 bytes" in held["reason"]
    logged = cli_json(env, "mail", "list")
    assert sorted(entry["outcome"] for entry in logged) == ["new_ticket", "quarantined"]
    assert unflagged(imap_server) == waiting[1:], "the held mail stays in the folder, unmarked"
    to_requester = [m for m in smtp_sink.messages if "dave@example.com" in m.rcpt_tos]
    assert len(to_requester) == 1, "one acknowledgement, for the leave form; none for the scans"
    assert b"Leave form" in to_requester[0].data


@dataclass
class Measured:
    peak_rss: int
    seconds: float
    log: str


def _settled(database_url: str) -> int:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            query = select(func.count()).where(InboundMail.state != "received")
            return int(connection.scalar(query.select_from(InboundMail)) or 0)
    except Exception:  # not migrated yet
        return 0
    finally:
        engine.dispose()


def measure(args: list[str], env: dict[str, str], done: Callable[[], bool] | None) -> Measured:
    """Run ``aliasdesk ARGS`` until it exits, or until ``done()`` and then stop it; its
    peak RSS, polled every 10 ms from outside."""
    started = time.monotonic()
    process = psutil.Popen(
        [ALIASDESK, *args], env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    peak = 0
    try:
        while process.poll() is None and not (done is not None and done()):
            assert time.monotonic() - started < 240, "the mail was not taken in"
            for _ in range(10):
                with contextlib.suppress(psutil.NoSuchProcess):
                    peak = max(peak, process.memory_info().rss)
                time.sleep(0.01)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
    log = err.decode(errors="replace")
    assert process.returncode == 0, log[-3000:]
    return Measured(peak, time.monotonic() - started, log)


def _gateway_env(
    imap: ImapTestServer, sink: SmtpSink, database_url: str, broker_url: str, limit: int
) -> dict[str, str]:
    env = _env(imap, sink, database_url, broker_url)
    env.update(ALIASDESK_MAX_MAIL_BYTES=str(limit), ALIASDESK_LOG_LEVEL="INFO")
    return env


def test_the_gateway_cuts_batches_by_bytes(
    dovecot_server: DovecotServer, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    database_url = f"sqlite:///{tmp_path / 'aliasdesk.db'}"
    dovecot_server.append_many(big_request(n, 3 * MB, files=1) for n in range(4))
    env = _gateway_env(dovecot_server, smtp_sink, database_url, "embedded", limit=4 * MB)
    run = measure(["gateway"], env, lambda: _settled(database_url) == 4)
    batches = [line for line in run.log.splitlines() if "poller.batch " in line]
    assert len(batches) == 4 and all(" fetched=1 " in line for line in batches), run.log
    assert unflagged(dovecot_server) == []
    print(f"4 x 3 MB mails: peak RSS {run.peak_rss / 1e6:.0f} MB in {run.seconds:.1f} s")
    assert run.peak_rss < 200e6


@pytest.mark.slow
def test_run_once_takes_four_40_mb_mails_in_under_300_mb(
    dovecot_server: DovecotServer, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    """Taken in, tickets opened, acknowledged, and each owner sent the request's files."""
    database_url = f"sqlite:///{tmp_path / 'aliasdesk.db'}"
    dovecot_server.append_many(big_request(n, 40 * MB, files=3) for n in range(4))
    env = _gateway_env(dovecot_server, smtp_sink, database_url, "embedded", limit=45 * MB)
    run = measure(["run", "--once"], env, None)
    assert _settled(database_url) == 4 and unflagged(dovecot_server) == []
    assert len(smtp_sink.messages) >= 8, "an acknowledgement and an owner's mail per request"
    print(f"4 x 40 MB mails: peak RSS {run.peak_rss / 1e6:.0f} MB in {run.seconds:.1f} s")
    # Measured: 216-217 MB in 10-13 s; with batches cut by bytes alone, 450 MB in 21 s.
    assert run.peak_rss < 300e6


ARCHIVES: dict[str, Callable[[Path, list[bytes]], Path]] = {
    "mbox": as_mbox,
    "maildir": as_maildir,
    "eml": as_eml_folder,
}


@pytest.mark.parametrize("kind", sorted(ARCHIVES))
def test_import_quarantines_mail_over_the_limit_once(
    tmp_path: Path, smtp_sink: SmtpSink, kind: str
) -> None:
    big = big_request(1, 400_000, files=1)
    source = ARCHIVES[kind](tmp_path, [MAILS[1], big])
    env = env_for(tmp_path, smtp_sink, ALIASDESK_MAX_MAIL_BYTES=str(256 * 1024))
    ok(env, "import", str(source), "--no-mail")
    again = ok(env, "import", str(source), "--no-mail")
    assert "imported 0 of 2 mails" in again.stdout, "the held mail is not imported twice"
    [held] = cli_json(env, "quarantine", "list")
    assert held["size"] == len(big) and held["subject"] == "Scans, part 1"
    assert f"{len(big):,} bytes" in held["reason"] and "left in the archive" in held["reason"]
    assert [t["subject"] for t in cli_json(env, "tickets", "list")] == ["Leave form"]
