"""``tickets show`` lists whole messages and numbered attachments; ``attachments get``
saves one where the admin says, never where the sender's file name says."""

from __future__ import annotations

import json
import stat
from email.message import EmailMessage
from pathlib import Path

import pytest

from tests.e2e.test_cli import cli
from tests.support.harness import ROUTING, feed, runtime_for
from tests.support.smtp_script import ScriptedSmtpServer

REPORT = b"%PDF-1.4\n" + bytes(range(256)) * 40
BODY = "\n".join(f"line {n} of the request" for n in range(1, 13))


def request_with_attachments() -> bytes:
    mail = EmailMessage()
    mail["From"] = "Dave Miller <dave@example.com>"
    mail["To"] = "hr@example.com"
    mail["Cc"] = "erin@example.com"
    mail["Subject"] = "Travel claim"
    mail["Message-ID"] = "<claim@example.com>"
    mail.set_content(BODY)
    mail.add_attachment(REPORT, maintype="application", subtype="pdf", filename="report.pdf")
    mail.add_attachment(
        b"#!/bin/sh\necho hi\n", maintype="text", subtype="plain", filename="../../evil.sh"
    )
    return mail.as_bytes()


@pytest.fixture
def ticket_env(database_url: str) -> dict[str, str]:
    with ScriptedSmtpServer() as smtp:
        runtime = runtime_for(database_url, smtp.port)
        feed(runtime, request_with_attachments())
        runtime.close()
    return {"ALIASDESK_DATABASE_URL": database_url, "ALIASDESK_ROUTING_FILE": str(ROUTING)}


def test_show_lists_whole_messages_attachments_and_watchers(ticket_env: dict[str, str]) -> None:
    shown = cli("tickets", "show", "HR-1", "--json", env=ticket_env)
    assert shown.returncode == 0, shown.stderr
    data = json.loads(shown.stdout)
    assert data["watchers"] == ["erin@example.com"]
    assert data["first_response_at"] is None and data["resolved_at"] is None
    listed = [
        {k: a[k] for k in ("n", "filename", "size", "content_type")} for a in data["attachments"]
    ]
    assert listed[0] == {
        "n": 1,
        "filename": "report.pdf",
        "size": len(REPORT),
        "content_type": "application/pdf",
    }
    assert listed[1]["n"] == 2 and "/" not in listed[1]["filename"]
    human = cli("tickets", "show", "HR-1", env=ticket_env)
    assert human.returncode == 0
    assert "line 12 of the request" in human.stdout
    assert "1. report.pdf" in human.stdout and "watchers: erin@example.com" in human.stdout


def test_get_saves_privately_and_never_overwrites_unasked(
    ticket_env: dict[str, str], tmp_path: Path
) -> None:
    target = tmp_path / "claim.pdf"
    saved = cli("attachments", "get", "hr-1", "1", "-o", str(target), env=ticket_env)
    assert saved.returncode == 0, saved.stderr
    assert target.read_bytes() == REPORT and stat.S_IMODE(target.stat().st_mode) == 0o600

    target.write_bytes(b"the admin's own file")
    again = cli("attachments", "get", "HR-1", "1", "-o", str(target), env=ticket_env)
    assert again.returncode == 1 and "--force" in again.stderr
    assert target.read_bytes() == b"the admin's own file"
    target.chmod(0o644)
    forced = cli("attachments", "get", "HR-1", "1", "-o", str(target), "-f", env=ticket_env)
    assert forced.returncode == 0, forced.stderr
    assert target.read_bytes() == REPORT and stat.S_IMODE(target.stat().st_mode) == 0o600


def test_get_writes_only_the_named_file(ticket_env: dict[str, str], tmp_path: Path) -> None:
    folder = tmp_path / "inbox"
    folder.mkdir()
    into_folder = cli("attachments", "get", "HR-1", "2", "-o", str(folder), env=ticket_env)
    assert into_folder.returncode == 1 and "folder" in into_folder.stderr
    assert list(folder.iterdir()) == [] and not (tmp_path / "evil.sh").exists()

    elsewhere = tmp_path / "elsewhere.txt"
    elsewhere.write_text("keep me")
    link = folder / "link.sh"
    link.symlink_to(elsewhere)
    through_link = cli("attachments", "get", "HR-1", "2", "-o", str(link), env=ticket_env)
    assert through_link.returncode == 1 and elsewhere.read_text() == "keep me"

    named = folder / "script.txt"
    assert cli("attachments", "get", "HR-1", "2", "-o", str(named), env=ticket_env).returncode == 0
    assert named.read_bytes() == b"#!/bin/sh\necho hi\n"
    assert sorted(p.name for p in folder.iterdir()) == ["link.sh", "script.txt"]


@pytest.mark.parametrize(
    ("ref", "n", "code", "said"),
    [("HR-1", "9", 1, "no attachment 9"), ("HR-77", "1", 1, "no ticket"), ("nonsense", "1", 2, "")],
)
def test_get_refuses_what_is_not_there(
    ticket_env: dict[str, str], tmp_path: Path, ref: str, n: str, code: int, said: str
) -> None:
    target = tmp_path / "out.bin"
    result = cli("attachments", "get", ref, n, "-o", str(target), env=ticket_env)
    assert result.returncode == code and said in result.stderr and "Traceback" not in result.stderr
    assert not target.exists()
