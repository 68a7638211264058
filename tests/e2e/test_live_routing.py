"""Editing the routing file under a running ``aliasdesk run``: a new rule applies to mail that
arrives afterwards, without a restart; a broken edit is refused with FILE:LINE: field:
message on stderr and the last valid rules stay in force (CONTRACT §2)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.local_servers import LocalImapServer, SmtpSink
from tests.support.harness import ROUTING, build_mail

ROOT = Path(__file__).resolve().parents[2]
ALIASDESK = shutil.which("aliasdesk", path=str(Path(sys.executable).parent)) or "aliasdesk"
NEW_ALIAS = "newteam@example.com"
WAIT = 60.0


def with_rule(text: str, department: str, extra: str = "") -> str:
    """The shipped routing file with one more rule, first in the list."""
    rule = (
        "rules:\n"
        f"  - name: new team goes to {department}\n"
        f"    when: {{to: {NEW_ALIAS}}}\n"
        f"    then: {{department: {department}{extra}}}\n\n"
    )
    return text.replace("rules:\n", rule, 1)


def write(path: Path, text: str) -> None:
    """Replace the file the way editors do (new file, rename), and move its mtime on even on
    file systems with coarse timestamps."""
    before = path.stat().st_mtime_ns if path.exists() else 0
    staged = path.with_suffix(".tmp")
    staged.write_text(text)
    os.replace(staged, path)
    if path.stat().st_mtime_ns <= before:
        os.utime(path, ns=(before + 1_000_000_000, before + 1_000_000_000))


def wait_for(what: str, check: Callable[[], Any], timeout: float = WAIT) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.3)
    pytest.fail(f"timed out waiting for {what}")


class Running:
    """``aliasdesk run`` in the background, its stderr in a file the test can read."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log = log
        with open(log, "wb") as stderr:
            self.process = subprocess.Popen(
                [ALIASDESK, "run"],
                env=env,
                cwd=ROOT,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
        # The routing file is read before this line: an edit from now on is a live edit.
        wait_for("start-up", self._started)

    def stderr(self) -> str:
        return self.log.read_text(errors="replace")

    def _started(self) -> bool:
        self.alive()
        return "event=start" in self.stderr()

    def alive(self) -> None:
        code = self.process.poll()
        assert code is None, f"aliasdesk run exited with {code}:\n{self.stderr()[-3000:]}"

    def mail_log(self) -> list[dict[str, Any]]:
        self.alive()
        # The reading commands load the routing file too and refuse to start while it is
        # broken, so they are pointed at the shipped one: the mail log does not depend on it.
        result = subprocess.run(
            [ALIASDESK, "mail", "list", "--json"],
            env={**self.env, "ALIASDESK_ROUTING_FILE": str(ROUTING)},
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr[-2000:]
        entries: list[dict[str, Any]] = json.loads(result.stdout)
        return entries

    def outcome_of(self, message_id: str) -> dict[str, Any]:
        def settled() -> dict[str, Any] | None:
            for entry in self.mail_log():
                if entry["message_id"] == message_id and entry["outcome"]:
                    return entry
            return None

        found: dict[str, Any] = wait_for(f"{message_id} to be processed", settled)
        return found

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


@pytest.fixture
def routing_file(tmp_path: Path) -> Path:
    path = tmp_path / "routing.yaml"
    write(path, ROUTING.read_text())
    return path


@pytest.fixture
def running(
    tmp_path: Path, routing_file: Path, pymap_server: LocalImapServer, smtp_sink: SmtpSink
) -> Iterator[Running]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALIASDESK_")}
    env.update(
        ALIASDESK_DATABASE_URL=f"sqlite:///{tmp_path}/aliasdesk.db",
        ALIASDESK_ROUTING_FILE=str(routing_file),
        ALIASDESK_IMAP_HOST=pymap_server.host,
        ALIASDESK_IMAP_PORT=str(pymap_server.port),
        ALIASDESK_IMAP_USERNAME=pymap_server.username,
        ALIASDESK_IMAP_PASSWORD=pymap_server.password,
        ALIASDESK_IMAP_SECURITY="none",
        ALIASDESK_IMAP_POLL_INTERVAL="1",
        ALIASDESK_SMTP_HOST=smtp_sink.host,
        ALIASDESK_SMTP_PORT=str(smtp_sink.port),
        ALIASDESK_SMTP_SECURITY="none",
    )
    process = Running(env, tmp_path / "run.stderr")
    try:
        yield process
    finally:
        process.stop()


def to_new_alias(n: int) -> tuple[str, bytes]:
    message_id = f"<live-{n}@example.com>"
    raw = build_mail("dave@example.com", NEW_ALIAS, f"Team question {n}", message_id=message_id)
    return message_id, raw


def test_rules_change_under_a_running_process(
    running: Running, routing_file: Path, pymap_server: LocalImapServer
) -> None:
    shipped = routing_file.read_text()

    # Before the edit: nobody knows the new alias, so its mail is held for an admin.
    first_id, first = to_new_alias(1)
    pymap_server.append(first)
    assert running.outcome_of(first_id)["outcome"] == "quarantined"

    # A new rule: mail appended afterwards goes to IT, with no restart.
    write(routing_file, with_rule(shipped, "IT"))
    wait_for("the reload", lambda: "event=routing_reloaded" in running.stderr())
    second_id, second = to_new_alias(2)
    pymap_server.append(second)
    entry = running.outcome_of(second_id)
    assert entry["outcome"] == "new_ticket" and entry["ticket"].startswith("IT-"), entry

    # A broken edit (it would send the mail to Facilities) is refused, and says where.
    write(routing_file, with_rule(shipped, "FAC", ", colour: blue"))
    expected = f"{routing_file}:"
    refusal = wait_for(
        "the refusal on stderr",
        lambda: next(
            (
                line
                for line in running.stderr().splitlines()
                if "routing_refused" in line and expected in line
            ),
            None,
        ),
    )
    assert "rules[0].then.colour: unknown key" in refusal
    line_number = refusal.split(expected, 1)[1].split(":", 1)[0]
    assert line_number.isdigit() and int(line_number) > 1

    third_id, third = to_new_alias(3)
    pymap_server.append(third)
    entry = running.outcome_of(third_id)
    assert entry["outcome"] == "new_ticket" and entry["ticket"].startswith("IT-"), entry
    running.alive()  # a bad edit never stops the process


def test_a_fixed_file_is_taken_after_a_refused_one(
    running: Running, routing_file: Path, pymap_server: LocalImapServer
) -> None:
    shipped = routing_file.read_text()
    write(routing_file, with_rule(shipped, "IT", ", colour: blue"))
    wait_for("the refusal", lambda: "routing_refused" in running.stderr())
    write(routing_file, with_rule(shipped, "FAC"))
    wait_for("the reload", lambda: "event=routing_reloaded" in running.stderr())
    message_id, raw = to_new_alias(4)
    pymap_server.append(raw)
    entry = running.outcome_of(message_id)
    assert entry["outcome"] == "new_ticket" and entry["ticket"].startswith("FAC-"), entry
