"""``aliasdesk web`` as deployed: its own process, its own log, nothing of a link in it."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import httpx

from aliasdesk.runtime import Runtime
from gateway.local_servers import SmtpSink
from tests.e2e.test_cli import ALIASDESK, ROOT
from tests.support.harness import ROUTING
from tests.support.services import free_port
from tests.web.conftest import KEY, open_request


def test_the_web_process_serves_a_mailed_link_and_logs_no_token(
    desk: Runtime, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    _ref, link = open_request(desk, smtp_sink)
    token = link.rsplit("/", 1)[1]
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALIASDESK_")}
    env.update(
        ALIASDESK_DATABASE_URL=desk.settings.database_url,
        ALIASDESK_ROUTING_FILE=str(ROUTING),
        ALIASDESK_SECRET_KEY=KEY,
        ALIASDESK_WEB_URL="https://desk.example.com",
        ALIASDESK_WEB_PORT=str(port),
        ALIASDESK_LOG_LEVEL="DEBUG",
    )
    log = tmp_path / "web.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [ALIASDESK, "web"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while True:
                try:
                    page = httpx.get(base + link, timeout=5)
                    break
                except httpx.TransportError:
                    assert process.poll() is None, log.read_text()
                    assert time.monotonic() < deadline, log.read_text()
                    time.sleep(0.2)
            assert page.status_code == 200 and "Parental leave" in page.text
            assert httpx.get(f"{base}{link}/rate/2", timeout=5).status_code == 200
            forged = token[:-1] + ("A" if token[-1] != "A" else "B")
            assert httpx.get(f"{base}/t/{forged}", timeout=5).status_code == 404
        finally:
            process.terminate()
            process.wait(timeout=30)
    written = log.read_text()
    assert "event=http method=GET path=/t/[link]/rate/2 status=200" in written, written
    assert token not in written and token.split(".")[1] not in written, written
