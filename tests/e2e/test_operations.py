"""An admin's commands: status, failed deliveries and quarantine dealt with, and read
commands that never make a database of their own (CONTRACT §1, §4)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from aliasdesk.db.models import Delivery, Job
from aliasdesk.runtime import Runtime
from tests.e2e.test_cli import cli
from tests.support.harness import ROUTING, build_mail, drain_jobs, feed, runtime_for
from tests.support.smtp_script import ScriptedSmtpServer

REFUSED = "dave@example.com"


@pytest.fixture
def refusing_smtp() -> Iterator[ScriptedSmtpServer]:
    with ScriptedSmtpServer() as smtp:
        smtp.handler.refuse[REFUSED] = "550 5.1.1 no such user"
        yield smtp


@pytest.fixture
def failed_delivery(
    database_url: str,
    refusing_smtp: ScriptedSmtpServer,
) -> Iterator[tuple[Runtime, dict[str, str]]]:
    """A helpdesk whose acknowledgement to the requester was refused for good."""
    runtime = runtime_for(database_url, refusing_smtp.port)
    feed(runtime, build_mail(message_id="<leave@example.com>"))
    drain_jobs(runtime)
    yield runtime, {"ALIASDESK_DATABASE_URL": database_url, "ALIASDESK_ROUTING_FILE": str(ROUTING)}
    runtime.close()


def run_json(*args: str, env: dict[str, str], code: int = 0) -> Any:
    result = cli(*args, "--json", env=env)
    assert result.returncode == code, result.stdout + result.stderr
    return json.loads(result.stdout)


def test_failed_delivery_is_a_problem_until_retried_with_the_same_message_id(
    failed_delivery: tuple[Runtime, dict[str, str]], refusing_smtp: ScriptedSmtpServer
) -> None:
    runtime, env = failed_delivery
    status = run_json("status", env=env, code=1)
    assert status["ok"] is False and status["deliveries"]["failed"] == 1
    assert any("failed deliveries" in problem for problem in status["problems"])
    [failed] = run_json("deliveries", "list", "--failed", env=env)
    assert failed["state"] == "failed" and failed["recipient"] == REFUSED
    assert "550" in failed["error"] and failed["ticket"] == "HR-1"
    everything = run_json("deliveries", "list", env=env)
    assert len(everything) > 1 and {d["state"] for d in everything} == {"sent", "failed"}

    del refusing_smtp.handler.refuse[REFUSED]
    retried = cli("deliveries", "retry", str(failed["id"]), env=env)
    assert retried.returncode == 0, retried.stderr
    assert failed["message_id"] in retried.stdout
    again = cli("deliveries", "retry", str(failed["id"]), env=env)
    assert again.returncode == 1 and "not failed (pending)" in again.stdout
    with runtime.db.reader() as session:
        jobs = session.scalars(select(Job).where(Job.delivery_id == failed["id"])).all()
    assert [job.state for job in jobs].count("pending") == 1
    history = run_json("tickets", "show", "HR-1", env=env)["events"]
    assert any("queued again by an admin" in e["detail"] for e in history)

    drain_jobs(runtime)
    resent = [m for m in refusing_smtp.handler.received if REFUSED in m.rcpt_tos]
    assert len(resent) == 1
    assert f"Message-ID: {failed['message_id']}".encode() in resent[0].data
    status = run_json("status", env=env)
    assert status["ok"] is True and status["problems"] == []
    assert cli("status", env=env).returncode == 0


def test_dismissed_delivery_stays_listed_but_is_no_problem(
    failed_delivery: tuple[Runtime, dict[str, str]],
) -> None:
    runtime, env = failed_delivery
    [failed] = run_json("deliveries", "list", "--failed", env=env)
    dismissed = cli("deliveries", "dismiss", str(failed["id"]), env=env)
    assert dismissed.returncode == 0, dismissed.stderr
    status = run_json("status", env=env)
    assert status["ok"] is True and status["deliveries"] == {"failed": 0, "dismissed": 1}
    [still] = run_json("deliveries", "list", "--failed", env=env)
    assert cli("deliveries", "dismiss", str(failed["id"]), env=env).returncode == 0  # twice
    history = run_json("tickets", "show", "HR-1", env=env)["events"]
    assert [e["detail"] for e in history].count(
        f"{still['kind']} to {REFUSED} ({still['message_id']}): failure dismissed by an admin"
    ) == 1
    assert still["id"] == failed["id"] and still["dismissed_at"] is not None
    with runtime.db.reader() as session:
        row = session.get(Delivery, failed["id"])
        assert row is not None and row.state == "failed" and row.last_error
    unknown = cli("deliveries", "dismiss", "999999", env=env)
    assert unknown.returncode == 1 and "no such delivery" in unknown.stdout
    sent = next(d for d in run_json("deliveries", "list", env=env) if d["state"] == "sent")
    refused = cli("deliveries", "retry", str(sent["id"]), env=env)
    assert refused.returncode == 1 and "not failed (sent)" in refused.stdout


def test_quarantine_dismiss_keeps_the_mail_and_clears_status(
    database_url: str,
) -> None:
    env = {"ALIASDESK_DATABASE_URL": database_url, "ALIASDESK_ROUTING_FILE": str(ROUTING)}
    with ScriptedSmtpServer() as smtp:
        runtime = runtime_for(database_url, smtp.port)
        feed(runtime, build_mail(to="nobody@elsewhere.example"), build_mail())
        runtime.close()
    [held] = run_json("quarantine", "list", env=env)
    assert run_json("status", env=env, code=1)["quarantine"]["count"] == 1
    new_ticket = next(m for m in run_json("mail", "list", env=env) if m["id"] != held["id"])
    wrong = cli("quarantine", "dismiss", str(new_ticket["id"]), env=env)
    assert wrong.returncode == 1 and "not in quarantine" in wrong.stdout
    done = cli("quarantine", "dismiss", str(held["id"]), env=env)
    assert done.returncode == 0, done.stderr
    status = run_json("status", env=env)
    assert status["ok"] is True and status["quarantine"] == {"count": 0, "dismissed": 1}
    assert [q["id"] for q in run_json("quarantine", "list", env=env)] == [held["id"]]
    retried = cli("quarantine", "retry", str(held["id"]), env=env)
    assert retried.returncode == 0 and "quarantined" in retried.stdout, retried.stderr
    assert run_json("status", env=env, code=1)["quarantine"] == {"count": 1, "dismissed": 0}


READ_COMMANDS = [
    ("tickets", "list"),
    ("tickets", "show", "HR-1"),
    ("mail", "list"),
    ("quarantine", "list"),
    ("deliveries", "list"),
    ("status",),
]


@pytest.mark.parametrize("command", READ_COMMANDS, ids=lambda c: "-".join(c[:2]))
def test_read_commands_never_create_a_database(tmp_path: Path, command: tuple[str, ...]) -> None:
    missing = tmp_path / "typo.db"
    env = {"ALIASDESK_DATABASE_URL": f"sqlite:///{missing}", "ALIASDESK_ROUTING_FILE": str(ROUTING)}
    result = cli(*command, env=env)
    assert result.returncode == 1, result.stdout
    assert f"sqlite:///{missing}" in result.stderr and "does not exist" in result.stderr
    assert "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_read_commands_refuse_a_database_without_schema(tmp_path: Path) -> None:
    import sqlite3

    empty = tmp_path / "other.db"
    sqlite3.connect(empty).close()
    env = {"ALIASDESK_DATABASE_URL": f"sqlite:///{empty}"}
    result = cli("tickets", "list", env=env)
    assert result.returncode == 1 and "has no aliasdesk schema" in result.stderr
    assert "no tickets" not in result.stdout
    garbage = tmp_path / "notes.txt"
    garbage.write_text("not a database at all\n" * 200)
    result = cli("status", env={"ALIASDESK_DATABASE_URL": f"sqlite:///{garbage}"})
    assert result.returncode == 1 and f"cannot use the database at sqlite:///{garbage}" in (
        result.stderr
    )
    assert garbage.read_text() == "not a database at all\n" * 200


def test_missing_postgres_database_masks_the_password_and_says_how_to_create_it(
    postgres_url: str,  # only to need PostgreSQL: in CI its absence fails the test
) -> None:
    url = "postgresql+psycopg://postgres:s3cret@127.0.0.1:5432/aliasdesk_never_created"
    env = {"ALIASDESK_DATABASE_URL": url}
    listed = cli("tickets", "list", env=env)
    assert listed.returncode == 1
    assert "postgres:********@127.0.0.1" in listed.stderr and "s3cret" not in listed.stderr
    upgrade = cli("db", "upgrade", env=env)
    assert upgrade.returncode == 1 and "Traceback" not in upgrade.stderr
    assert "createdb -h 127.0.0.1 -p 5432 -U postgres aliasdesk_never_created" in upgrade.stderr
    assert 'CREATE DATABASE "aliasdesk_never_created"' in upgrade.stderr
    assert "s3cret" not in upgrade.stderr


def test_bad_database_setting_is_a_configuration_error() -> None:
    result = cli("status", env={"ALIASDESK_DATABASE_URL": "aliasdesk.db"})
    assert result.returncode == 2 and "ALIASDESK_DATABASE_URL" in result.stderr


def test_explain_on_a_mail_already_taken_in_shows_its_routing(
    database_url: str,
    tmp_path: Path,
) -> None:
    env = {"ALIASDESK_DATABASE_URL": database_url, "ALIASDESK_ROUTING_FILE": str(ROUTING)}
    raw = build_mail(subject="Payroll question for March", message_id="<march@example.com>")
    with ScriptedSmtpServer() as smtp:
        runtime = runtime_for(database_url, smtp.port)
        [taken] = feed(runtime, raw)
        runtime.close()
    mail = tmp_path / "march.eml"
    mail.write_bytes(raw)
    result = run_json("rules", "explain", str(mail), env=env)
    assert result["action"] == "ignore" and result["duplicate_of"] == taken.inbound_id
    assert result["departments"] == ["FIN"] and result["rule"] == "payroll goes to Finance"
    assert result["ticket"] == "FIN-1" and "duplicate" in result["reason"]
    assert any(line.startswith("route:") for line in result["trace"])
    human = cli("rules", "explain", str(mail), env=env)
    assert human.returncode == 0 and f"mail #{taken.inbound_id}" in human.stdout
    assert "FIN" in human.stdout


def test_status_checks_the_broker(broker_url: str, sqlite_url: str) -> None:
    with ScriptedSmtpServer() as smtp:
        runtime_for(sqlite_url, smtp.port).close()
    env = {"ALIASDESK_DATABASE_URL": sqlite_url, "ALIASDESK_ROUTING_FILE": str(ROUTING)}
    env["ALIASDESK_BROKER_URL"] = broker_url
    answering = run_json("status", env=env)
    assert answering["broker"]["reachable"] is True and answering["ok"] is True
    env["ALIASDESK_BROKER_URL"] = "redis://127.0.0.1:9/0"  # the discard port: nobody there
    silent = run_json("status", env=env, code=1)
    assert silent["broker"]["reachable"] is False
    assert any("broker redis://127.0.0.1:9/0" in problem for problem in silent["problems"])
