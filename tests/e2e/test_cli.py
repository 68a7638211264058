"""The console script as scripts use it: exit codes and the JSON of CONTRACT §4."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from aliasdesk.db.models import Ticket
from tests.support.harness import ROUTING, build_mail, drain_jobs, feed, runtime_for
from tests.support.smtp_script import ScriptedSmtpServer

ROOT = Path(__file__).resolve().parents[2]
HEAD = "organisation: {name: X, domains: [x.com]}\ndepartments:\n"
ALIASDESK = shutil.which("aliasdesk", path=str(Path(sys.executable).parent)) or "aliasdesk"


def cli(
    *args: str, env: dict[str, str] | None = None, cwd: Path = ROOT
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("ALIASDESK_")}
    full_env.update(env or {})
    return subprocess.run(
        [ALIASDESK, *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=120
    )


def test_version_and_usage_exit_codes() -> None:
    assert cli("--version").stdout.startswith("aliasdesk ")
    assert cli("frobnicate").returncode == 2


def test_rules_check_accepts_the_shipped_file() -> None:
    result = cli("rules", "check", str(ROUTING))
    assert result.returncode == 0, result.stderr
    assert "ok" in result.stdout


@pytest.mark.parametrize(
    ("text", "line", "field"),
    [
        (
            HEAD + "  HR:\n    aliases: [hr@x.com]\n"
            "    members: [a@x.com]\n    assignment: sometimes\n",
            6,
            "departments.HR.assignment",
        ),
        (
            HEAD + "  HR:\n    aliases: [hr@x.com]\n    colour: blue\n",
            5,
            "departments.HR.colour",
        ),
        (
            "organisation: {name: X, domains: [x.com]}\ndepartments:\n  HR: {aliases: [a@x.com]}\n"
            "  IT: {aliases: [a@x.com]}\n",
            4,
            "departments.IT.aliases[0]",
        ),
        (
            "organisation: {name: X, domains: [x.com]}\ndepartments:\n  HR: {aliases: [a@x.com]}\n"
            'rules:\n  - name: r\n    when: {subject: "(unclosed"}\n    then: {department: HR}\n',
            6,
            "rules[0].when.subject",
        ),
        (
            "organisation: {name: X, domains: [x.com]}\ndepartments:\n  HR: {aliases: [a@x.com]}\n"
            "rules:\n  - name: r\n    when: {subject: x}\n    then: {department: LEGAL}\n",
            7,
            "rules[0].then.department",
        ),
        (
            HEAD + "  HR:\n    aliases: [hr@x.com]\n"
            "    members: [a@x.com]\n    assignment: fixed:b@x.com\n",
            6,
            "departments.HR.assignment",
        ),
        ("organisation: [\n", 2, "yaml"),
    ],
)
def test_rules_check_names_file_line_and_field(
    tmp_path: Path, text: str, line: int, field: str
) -> None:
    path = tmp_path / "routing.yaml"
    path.write_text(text)
    result = cli("rules", "check", str(path))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert f"{path}:{line}: {field}: " in result.stderr, result.stderr


def test_rules_check_without_a_file_checks_the_one_env_file_names(tmp_path: Path) -> None:
    """CONTRACT §2: ``.env`` in the working folder is read too, so ``rules check`` checks
    the file ``run`` would load, not the default."""
    broken = tmp_path / "ours.yaml"
    broken.write_text(HEAD + "  HR:\n    aliases: [hr@x.com]\n    colour: blue\n")
    (tmp_path / ".env").write_text(f"ALIASDESK_ROUTING_FILE={broken}\n")
    result = cli("rules", "check", cwd=tmp_path)
    assert result.returncode == 2
    assert f"{broken}:5: departments.HR.colour: " in result.stderr, result.stderr
    shipped = cli("rules", "check", cwd=tmp_path, env={"ALIASDESK_ROUTING_FILE": str(ROUTING)})
    assert shipped.returncode == 0, shipped.stderr  # the environment wins over .env
    assert f"{ROUTING}: ok" in shipped.stdout


@pytest.fixture
def filled_database(tmp_path: Path) -> dict[str, str]:
    url = f"sqlite:///{tmp_path}/cli.db"
    with ScriptedSmtpServer() as smtp:
        runtime = runtime_for(url, smtp.port)
        feed(
            runtime,
            build_mail(to="hr@example.com, it@example.com", message_id="<two@x.com>"),
            build_mail(subject="Out of office", headers={"Auto-Submitted": "auto-replied"}),
            build_mail(to="nobody@elsewhere.example"),
        )
        drain_jobs(runtime)
        runtime.close()
    return {"ALIASDESK_DATABASE_URL": url, "ALIASDESK_ROUTING_FILE": str(ROUTING)}


def _json(*args: str, env: dict[str, str]) -> Any:
    result = cli(*args, "--json", env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_tickets_and_mail_json(filled_database: dict[str, str]) -> None:
    tickets = _json("tickets", "list", env=filled_database)
    assert sorted(t["ref"] for t in tickets) == ["HR-1", "IT-1"]
    keys = {
        "ref",
        "department",
        "status",
        "priority",
        "subject",
        "requester",
        "owner",
        "created_at",
        "updated_at",
        "message_count",
        "rating",
        "links",
    }
    assert all(keys <= set(t) for t in tickets)
    assert {t["ref"]: t["links"] for t in tickets} == {"HR-1": ["IT-1"], "IT-1": ["HR-1"]}
    shown = _json("tickets", "show", "hr-1", env=filled_database)
    assert {e["kind"] for e in shown["events"]} >= {"created", "assigned"}
    assert shown["messages"][0]["direction"] == "in" and shown["messages"][0]["internal"] is False
    assert "+" in shown["created_at"] or shown["created_at"].endswith("Z")
    mail = _json("mail", "list", env=filled_database)
    assert [m["outcome"] for m in mail] == ["quarantined", "ignored", "new_ticket"]
    assert mail[2]["tickets"] == ["HR-1", "IT-1"] and mail[2]["ticket"] == "HR-1"
    quarantine = _json("quarantine", "list", env=filled_database)
    assert len(quarantine) == 1 and quarantine[0]["reason"]
    assert _json("tickets", "list", "--department", "it", env=filled_database)[0]["ref"] == "IT-1"


def test_tickets_show_unknown_ref(filled_database: dict[str, str]) -> None:
    assert cli("tickets", "show", "HR-99", env=filled_database).returncode == 1
    assert cli("tickets", "show", "nonsense", env=filled_database).returncode == 2


def test_rules_explain_changes_nothing(filled_database: dict[str, str], tmp_path: Path) -> None:
    mail = tmp_path / "payroll.eml"
    mail.write_bytes(build_mail(subject="Payroll question for March"))
    before = _json("mail", "list", env=filled_database)
    result = _json("rules", "explain", str(mail), env=filled_database)
    assert result["action"] == "new_ticket" and result["department"] == "FIN"
    assert result["rule"] == "payroll goes to Finance" and result["priority"] == "high"
    assert any("payroll" in line for line in result["trace"])
    assert _json("mail", "list", env=filled_database) == before
    human = cli("rules", "explain", str(mail), env=filled_database)
    assert human.returncode == 0 and "FIN" in human.stdout


def test_rules_explain_says_whether_a_reply_is_believed_under_the_live_settings(
    filled_database: dict[str, str], tmp_path: Path
) -> None:
    """A member's reply: the dry run says whether the sender would be believed (and so
    whether their commands would be carried out), checked with the settings ``run`` has."""
    reply = tmp_path / "reply.eml"
    reply.write_bytes(build_mail("alice@example.com", subject="Re: [HR-1] x", body="#resolve"))
    strict = {
        **filled_database,
        "ALIASDESK_REQUIRE_AUTH_RESULTS": "true",
        "ALIASDESK_AUTHSERV_ID": "mx.example.com",
    }
    lenient = _json("rules", "explain", str(reply), env=filled_database)
    assert lenient["action"] == "update_ticket" and lenient["ticket"] == "HR-1"
    assert any(
        "alice@example.com is a member of HR: NOT verified" in line
        and "not an answer to a mail aliasdesk sent" in line
        for line in lenient["trace"]
    ), lenient["trace"]
    refused = _json("rules", "explain", str(reply), env=strict)
    assert any("no dmarc=pass from the receiving server" in line for line in refused["trace"])
    passed = tmp_path / "passed.eml"
    passed.write_bytes(
        build_mail(
            "alice@example.com",
            subject="Re: [HR-1] x",
            body="#resolve",
            headers={
                "Authentication-Results": "mx.example.com; dmarc=pass header.from=example.com"
            },
        )
    )
    believed = _json("rules", "explain", str(passed), env=strict)
    assert any(
        "member of HR: verified (dmarc=pass reported by mx.example.com)" in line
        for line in believed["trace"]
    ), believed["trace"]
    assert _json("tickets", "show", "HR-1", env=filled_database)["status"] == "new"


def test_no_escape_sequence_from_mail_reaches_the_admins_terminal(
    filled_database: dict[str, str], tmp_path: Path
) -> None:
    """A delivery report's diagnostic and a rating comment are a sender's words: printed
    for an admin, their control characters are left out (they could rewrite the screen)."""
    escapes = "\x1b[1A\x1b[2K\x1b[32mall fine\x1b[0m\x1b]0;owned\x07"
    report = tmp_path / "report.eml"
    report.write_bytes(
        (
            "From: Mail Delivery System <MAILER-DAEMON@mx.elsewhere.example>\r\n"
            "To: hr@example.com\r\nSubject: Undelivered Mail\r\n"
            "Message-ID: <dsn@elsewhere.example>\r\nMIME-Version: 1.0\r\n"
            'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
            "--B\r\nContent-Type: text/plain\r\n\r\nfailed\r\n--B\r\n"
            "Content-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx\r\n\r\n"
            "Final-Recipient: rfc822; dave@example.com\r\nAction: failed\r\n"
            f"Status: 5.1.1\r\nDiagnostic-Code: smtp; 550 {escapes}\r\n--B--\r\n"
        ).encode()
    )
    explained = cli("rules", "explain", str(report), env=filled_database)
    assert explained.returncode == 0, explained.stderr
    assert "all fine" in explained.stdout and "\x1b" not in explained.stdout
    url = filled_database["ALIASDESK_DATABASE_URL"]
    runtime = runtime_for(url, 1)  # the comment as a rating by mail would store it
    with runtime.db.unit_of_work() as session:
        ticket = session.scalar(select(Ticket).where(Ticket.number == 1, Ticket.department == "HR"))
        assert ticket is not None
        ticket.rating, ticket.rating_comment = 1, f"bad {escapes}"
    runtime.close()
    shown = cli("tickets", "show", "HR-1", env=filled_database)
    assert "rating: 1/5 bad" in shown.stdout and "\x1b" not in shown.stdout
    assert "\x07" not in shown.stdout


def test_status_exits_1_with_quarantined_mail(filled_database: dict[str, str]) -> None:
    result = cli("status", env=filled_database)
    assert result.returncode == 1
    assert "mail in quarantine" in result.stdout
