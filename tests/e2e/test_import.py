"""``aliasdesk import PATH`` as an admin runs it: old mail from an mbox, a Maildir or a folder
of .eml files becomes tickets through the live pipeline, once, with a progress bar."""

from __future__ import annotations

import json
import mailbox
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest

from gateway.local_servers import LocalImapServer, SmtpSink
from tests.support.harness import ROUTING
from tests.support.mbox_files import write_mbox

ROOT = Path(__file__).resolve().parents[2]
ALIASDESK = shutil.which("aliasdesk", path=str(Path(sys.executable).parent)) or "aliasdesk"
LAST_YEAR = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)


def old_mail(
    n: int, sender: str, to: str, subject: str, *, in_reply_to: str | None = None
) -> bytes:
    """A mail dated last year, ``n`` hours after the first; Message-ID <old-n@example.com>."""
    lines = [
        f"From: {sender}",
        f"To: {to}",
        f"Subject: {subject}",
        f"Date: {format_datetime(LAST_YEAR + timedelta(hours=n))}",
        f"Message-ID: <old-{n}@example.com>",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
    ]
    if in_reply_to:
        lines += [f"In-Reply-To: {in_reply_to}", f"References: {in_reply_to}"]
    return ("\r\n".join(lines) + "\r\n\r\nPlease help.\r\n").encode()


# The requester's follow-up comes first in the file: the import must still thread it.
MAILS = [
    old_mail(
        5, "dave@example.com", "hr@example.com", "Re: Leave form", in_reply_to="<old-1@example.com>"
    ),
    old_mail(1, "dave@example.com", "hr@example.com", "Leave form"),
    old_mail(2, "erika@example.com", "it@example.com", "VPN broken"),
    old_mail(3, "sam@example.com", "facilities@example.com", "Heating"),
]


def as_mbox(folder: Path, mails: list[bytes] = MAILS) -> Path:
    return write_mbox(folder / "archive.mbox", mails)


def as_maildir(folder: Path, mails: list[bytes] = MAILS) -> Path:
    path = folder / "Maildir"
    box = mailbox.Maildir(str(path), create=True)
    for raw in mails:
        box.add(raw)
    box.close()
    return path


def as_eml_folder(folder: Path, mails: list[bytes] = MAILS) -> Path:
    path = folder / "exported"
    (path / "2024").mkdir(parents=True)
    for n, raw in enumerate(mails):
        (path / "2024" / f"mail-{n}.eml").write_bytes(raw)
    (path / "README.txt").write_text("exported from the old shared inbox\n")
    return path


SOURCES: dict[str, Callable[[Path], Path]] = {
    "mbox": as_mbox,
    "maildir": as_maildir,
    "eml": as_eml_folder,
}


def env_for(tmp_path: Path, sink: SmtpSink, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALIASDESK_")}
    env.update(
        ALIASDESK_DATABASE_URL=f"sqlite:///{tmp_path}/aliasdesk.db",
        ALIASDESK_ROUTING_FILE=str(ROUTING),
        ALIASDESK_SMTP_HOST=sink.host,
        ALIASDESK_SMTP_PORT=str(sink.port),
        ALIASDESK_SMTP_SECURITY="none",
        **extra,
    )
    return env


def aliasdesk(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [ALIASDESK, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=180
    )


def ok(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    result = aliasdesk(env, *args)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def tickets(env: dict[str, str]) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = json.loads(ok(env, "tickets", "list", "--json").stdout)
    return listed


@pytest.mark.parametrize("kind", sorted(SOURCES))
def test_old_mail_becomes_tickets_once(tmp_path: Path, smtp_sink: SmtpSink, kind: str) -> None:
    source = SOURCES[kind](tmp_path)
    env = env_for(tmp_path, smtp_sink)

    first = ok(env, "import", str(source))

    assert f"imported 4 of 4 mails from {source}" in first.stdout
    made = tickets(env)
    assert sorted(t["ref"] for t in made) == ["FAC-1", "HR-1", "IT-1"]
    hr = json.loads(ok(env, "tickets", "show", "HR-1", "--json").stdout)
    incoming = [m["message_id"] for m in hr["messages"] if m["direction"] == "in"]
    assert incoming == ["<old-1@example.com>", "<old-5@example.com>"]  # oldest first, joined
    assert all(t["owner"] for t in made)
    requesters = ["dave@example.com", "erika@example.com", "sam@example.com"]
    acknowledged = sorted(m.rcpt_tos[0] for m in smtp_sink.messages if m.rcpt_tos[0] in requesters)
    assert acknowledged == requesters  # one acknowledgement each, none for the follow-up
    # The progress bar: count, rate and time left, on stderr, not mixed into the summary.
    assert "4/4" in first.stderr and "mails/s" in first.stderr and "ETA" in first.stderr
    assert "mails/s" not in first.stdout

    sent = len(smtp_sink.messages)
    second = ok(env, "import", str(source))
    assert f"imported 0 of 4 mails from {source} (4 seen before)" in second.stdout
    assert len(tickets(env)) == 3
    assert len(smtp_sink.messages) == sent
    log = json.loads(ok(env, "mail", "list", "--json").stdout)
    assert len(log) == 4  # the second run added nothing to the inbound log


def test_the_same_mail_from_two_archives_is_one_ticket(tmp_path: Path, smtp_sink: SmtpSink) -> None:
    env = env_for(tmp_path, smtp_sink)
    ok(env, "import", str(as_mbox(tmp_path)))
    second = ok(env, "import", str(as_maildir(tmp_path)))
    assert "imported 4 of 4" in second.stdout and "4 duplicate" in second.stdout
    assert len(tickets(env)) == 3


def run_env(tmp_path: Path, smtp_sink: SmtpSink, pymap_server: LocalImapServer) -> dict[str, str]:
    return env_for(
        tmp_path,
        smtp_sink,
        ALIASDESK_IMAP_HOST=pymap_server.host,
        ALIASDESK_IMAP_PORT=str(pymap_server.port),
        ALIASDESK_IMAP_USERNAME=pymap_server.username,
        ALIASDESK_IMAP_PASSWORD=pymap_server.password,
        ALIASDESK_IMAP_SECURITY="none",
    )


def test_no_mail_sends_nothing_now_or_later(
    tmp_path: Path, smtp_sink: SmtpSink, pymap_server: LocalImapServer
) -> None:
    env = run_env(tmp_path, smtp_sink, pymap_server)
    requests = [raw for raw in MAILS if b"In-Reply-To" not in raw]
    result = ok(env, "import", "--no-mail", str(as_eml_folder(tmp_path, requests)))
    assert "imported 3 of 3" in result.stdout
    made = tickets(env)
    assert len(made) == 3 and all(t["owner"] for t in made)  # owners assigned all the same
    assert smtp_sink.messages == []
    ok(env, "run", "--once")  # the worker's turn: still nothing for old mail
    assert smtp_sink.messages == []


def test_no_mail_relays_no_old_follow_up_later(
    tmp_path: Path, smtp_sink: SmtpSink, pymap_server: LocalImapServer
) -> None:
    env = run_env(tmp_path, smtp_sink, pymap_server)
    ok(env, "import", "--no-mail", str(as_eml_folder(tmp_path)))
    ok(env, "run", "--once")
    assert smtp_sink.messages == []


def test_no_mail_needs_no_smtp_server(tmp_path: Path, smtp_sink: SmtpSink) -> None:
    env = env_for(tmp_path, smtp_sink)
    del env["ALIASDESK_SMTP_HOST"]
    ok(env, "import", "--no-mail", str(as_mbox(tmp_path)))
    assert len(tickets(env)) == 3


def test_importing_with_mail_but_no_smtp_server_is_refused_before_anything(
    tmp_path: Path, smtp_sink: SmtpSink
) -> None:
    env = env_for(tmp_path, smtp_sink)
    del env["ALIASDESK_SMTP_HOST"]
    result = aliasdesk(env, "import", str(as_mbox(tmp_path)))
    assert result.returncode == 2
    assert "ALIASDESK_SMTP_HOST" in result.stderr and "--no-mail" in result.stderr
    assert tickets(env) == []


def test_a_missing_path_is_a_usage_error(tmp_path: Path, smtp_sink: SmtpSink) -> None:
    result = aliasdesk(env_for(tmp_path, smtp_sink), "import", str(tmp_path / "nowhere.mbox"))
    assert result.returncode == 2
    assert "nowhere.mbox" in result.stderr
