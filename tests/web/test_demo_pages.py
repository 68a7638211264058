"""``aliasdesk demo --serve`` serves the ticket pages its mail links to, and says where."""

from __future__ import annotations

import os
import re
import subprocess
import time

import httpx

from tests.e2e.test_cli import ALIASDESK, ROOT


def test_demo_serve_prints_a_working_link_to_the_requesters_page() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALIASDESK_")}
    process = subprocess.Popen(
        [ALIASDESK, "demo", "--serve"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 120
        link = None
        seen = []
        while link is None and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            seen.append(line)
            found = re.search(
                r"The requester's page of HR-1: (http://127\.0\.0\.1:\d+/t/\S+)", line
            )
            link = found.group(1) if found else None
        assert link is not None, "".join(seen)
        page = httpx.get(link, timeout=10)
        assert page.status_code == 200
        assert 'id="status">Resolved' in page.text and 'id="rating">5 of 5' in page.text
        assert page.headers["referrer-policy"] == "no-referrer"
    finally:
        process.terminate()
        process.wait(timeout=30)
