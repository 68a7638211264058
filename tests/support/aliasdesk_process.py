"""The ``aliasdesk`` command run as its own process, as an admin, a cron job or an MTA
meets it: an environment that holds only the test's settings, the command's JSON, and a
server process that is listening before the test goes on and is stopped after it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from tests.support.harness import ROOT, ROUTING
from tests.support.services import port_open

ALIASDESK = shutil.which("aliasdesk", path=str(Path(sys.executable).parent)) or "aliasdesk"


class Mailbox(Protocol):
    host: str
    port: int
    username: str
    password: str


def clean_env(**settings: str) -> dict[str, str]:
    """This process's environment without any ``ALIASDESK_`` variable, plus ``settings``:
    what the test says is all the command is told."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALIASDESK_")}
    env.update(settings)
    return env


def mail_env(
    database_url: str,
    smtp_host: str,
    smtp_port: int,
    *,
    imap: Mailbox | None = None,
    **settings: str,
) -> dict[str, str]:
    """Settings for a process that sends through ``smtp_host:smtp_port`` (and reads
    ``imap`` when given), with the shared routing file, over plain loopback."""
    env = clean_env(
        ALIASDESK_DATABASE_URL=database_url,
        ALIASDESK_ROUTING_FILE=str(ROUTING),
        ALIASDESK_SMTP_HOST=smtp_host,
        ALIASDESK_SMTP_PORT=str(smtp_port),
        ALIASDESK_SMTP_SECURITY="none",
    )
    if imap is not None:
        env.update(
            ALIASDESK_IMAP_HOST=imap.host,
            ALIASDESK_IMAP_PORT=str(imap.port),
            ALIASDESK_IMAP_USERNAME=imap.username,
            ALIASDESK_IMAP_PASSWORD=imap.password,
            ALIASDESK_IMAP_SECURITY="none",
        )
    env.update(settings)
    return env


def cli(env: dict[str, str], *args: str, timeout: float = 180) -> str:
    """``aliasdesk ARGS``, which must succeed; what it printed."""
    result = subprocess.run(
        [ALIASDESK, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def cli_json(env: dict[str, str], *args: str, timeout: float = 180) -> Any:
    """``aliasdesk ARGS --json``, which must succeed; what it printed, parsed."""
    return json.loads(cli(env, *args, "--json", timeout=timeout))


@contextmanager
def listening(
    args: list[str], env: dict[str, str], port: int, log: Path, timeout: float = 60
) -> Iterator[subprocess.Popen[bytes]]:
    """``aliasdesk ARGS`` running and accepting connections on ``port`` (its output in
    ``log``); terminated when the block ends, however it ends."""
    with log.open("wb") as output:
        process = subprocess.Popen(
            [ALIASDESK, *args], env=env, cwd=ROOT, stdout=output, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + timeout
        while not port_open("127.0.0.1", port):
            assert process.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, f"no answer on {port}: {log.read_text()[-3000:]}"
            time.sleep(0.1)
        yield process
    finally:
        process.terminate()
        process.wait(timeout=30)
