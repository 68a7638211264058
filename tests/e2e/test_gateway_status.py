"""What a running gateway tells ``aliasdesk status``: the mailbox's login (against a real
Dovecot) and the routing file it has in force, read by status in another process."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from aliasdesk.services.health import gather
from gateway.imap import ImapConfig
from gateway.service import StateReports
from tests.e2e.test_cli import ALIASDESK, ROOT, cli
from tests.support.dovecot import DovecotServer
from tests.support.harness import ROUTING, runtime_for
from tests.support.smtp_script import ScriptedSmtpServer


def gateway_env(tmp_path: Path, imap: DovecotServer, smtp: ScriptedSmtpServer) -> dict[str, str]:
    routing = tmp_path / "routing.yaml"
    shutil.copy(ROUTING, routing)
    return {
        "ALIASDESK_DATABASE_URL": f"sqlite:///{tmp_path}/gateway.db",
        "ALIASDESK_ROUTING_FILE": str(routing),
        "ALIASDESK_IMAP_HOST": imap.host,
        "ALIASDESK_IMAP_PORT": str(imap.port),
        "ALIASDESK_IMAP_USERNAME": imap.username,
        "ALIASDESK_IMAP_PASSWORD": imap.password,
        "ALIASDESK_IMAP_SECURITY": "none",
        "ALIASDESK_IMAP_POLL_INTERVAL": "1",
        "ALIASDESK_SMTP_HOST": "127.0.0.1",
        "ALIASDESK_SMTP_PORT": str(smtp.port),
        "ALIASDESK_SMTP_SECURITY": "none",
    }


@contextmanager
def running_gateway(env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("ALIASDESK_")}
    full_env.update(env)
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            [ALIASDESK, "gateway"], cwd=ROOT, env=full_env, stdout=stderr, stderr=stderr
        )
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def status(env: dict[str, str]) -> tuple[int, dict[str, Any]]:
    result = cli("status", "--json", env=env)
    assert result.returncode in (0, 1), result.stderr
    return result.returncode, json.loads(result.stdout)


def wait_for(what: str, check: Callable[[], bool], timeout: float = 45.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.3)


def database_ready(env: dict[str, str]) -> bool:
    return cli("status", env=env).returncode in (0, 1)


def test_refused_login_is_an_error_log_and_a_status_problem(
    tmp_path: Path, dovecot_server: DovecotServer, smtp: ScriptedSmtpServer
) -> None:
    env = gateway_env(tmp_path, dovecot_server, smtp)
    env["ALIASDESK_IMAP_PASSWORD"] = "not-the-password"
    log = tmp_path / "gateway.log"
    where = f"host={dovecot_server.host} port={dovecot_server.port}"
    with running_gateway(env, log):
        wait_for("the refused login in the log", lambda: "login refused" in log.read_text())
        wait_for("status to see the mailbox", lambda: database_ready(env))
        code, document = status(env)
    error_lines = [line for line in log.read_text().splitlines() if " ERROR " in line]
    assert any(where in line and "login refused" in line for line in error_lines), error_lines
    assert "not-the-password" not in log.read_text()
    assert code == 1 and document["mailbox"]["state"] == "failing"
    assert any(
        p.startswith("mailbox:") and f":{dovecot_server.port}" in p and "login refused" in p
        for p in document["problems"]
    ), document["problems"]


def test_login_capabilities_and_routing_in_force(
    tmp_path: Path, dovecot_server: DovecotServer, smtp: ScriptedSmtpServer
) -> None:
    env = gateway_env(tmp_path, dovecot_server, smtp)
    routing = Path(env["ALIASDESK_ROUTING_FILE"])
    log = tmp_path / "gateway.log"
    port = dovecot_server.port
    with running_gateway(env, log):
        wait_for("the login", lambda: "poller.connected" in log.read_text())
        wait_for("status to see the mailbox", lambda: status(env)[1]["mailbox"]["state"] == "ok")
        text = log.read_text()
        assert f"imap.connected host={dovecot_server.host} port={port}" in text
        assert "capabilities=" in text and "IDLE" in text.split("capabilities=")[1]
        assert f"poller.connected host={dovecot_server.host} port={port} wait=idle" in text
        code, document = status(env)
        assert code == 0 and document["problems"] == [], document
        assert document["routing"]["in_force_is_on_disk"] is True

        valid = routing.read_text()
        routing.write_text(valid + "\nrules: [oops\n")
        wait_for("the refusal", lambda: "routing_refused" in log.read_text())
        code, document = status(env)
        assert code == 1 and document["routing"]["in_force_is_on_disk"] is False
        assert any("earlier version" in p for p in document["problems"])

        routing.write_text(valid + "\n# reviewed\n")
        wait_for("the reload", lambda: status(env)[0] == 0)
    routing.write_text(valid + "\n# edited while the gateway is down\n")
    code, document = status(env)
    assert code == 1 and document["routing"]["valid"] is True
    assert [p for p in document["problems"] if "earlier version" in p], document["problems"]


def test_status_finds_the_gateways_routing_file_from_any_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, smtp: ScriptedSmtpServer
) -> None:
    gateway_home, elsewhere = tmp_path / "gateway", tmp_path / "elsewhere"
    (gateway_home / "config").mkdir(parents=True)
    elsewhere.mkdir()
    shutil.copy(ROUTING, gateway_home / "config" / "routing.yaml")
    monkeypatch.chdir(gateway_home)
    runtime = runtime_for(
        f"sqlite:///{tmp_path}/state.db", smtp.port, routing_file=Path("config/routing.yaml")
    )
    try:
        config = ImapConfig("127.0.0.1", 993, "desk", "secret", security="ssl")
        StateReports(runtime, config).watch_routing()
        monkeypatch.chdir(elsewhere)
        routing = gather(runtime.db, runtime.settings)["routing"]
    finally:
        runtime.close()
    assert routing["file"] == str(gateway_home / "config" / "routing.yaml")
    assert routing["valid"] is True and routing["in_force_is_on_disk"] is True
