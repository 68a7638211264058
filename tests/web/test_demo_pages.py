"""``aliasdesk demo --serve`` serves the ticket pages its mail links to, and says where."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.support.aliasdesk_process import ALIASDESK, clean_env
from tests.support.harness import ROOT


@pytest.fixture
def demo() -> Iterator[subprocess.Popen[str]]:
    """``aliasdesk demo --serve`` running, its output read line by line."""
    process = subprocess.Popen(
        [ALIASDESK, "demo", "--serve"],
        cwd=ROOT,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield process
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_demo_serve_prints_a_working_link_to_the_requesters_page(
    demo: subprocess.Popen[str],
) -> None:
    pattern = r"The requester's page of HR-1: (http://127\.0\.0\.1:\d+/t/\S+)"
    link = _line(demo, pattern, time.monotonic() + 120).group(1)
    page = httpx.get(link, timeout=10)
    assert page.status_code == 200
    assert 'id="status">Solved' in page.text and 'id="rating">5 of 5' in page.text
    assert page.headers["referrer-policy"] == "no-referrer"


def _line(process: subprocess.Popen[str], pattern: str, deadline: float) -> re.Match[str]:
    """The first line of the demo's output from now on matching ``pattern``."""
    assert process.stdout is not None
    seen = []
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        seen.append(line)
        found = re.search(pattern, line)
        if found:
            return found
    raise AssertionError(f"no line matching {pattern!r} in:\n{''.join(seen)}")


def test_demo_serve_signs_the_lead_in_to_the_dashboard_with_the_printed_link(
    demo: subprocess.Popen[str],
) -> None:
    deadline = time.monotonic() + 120
    found = _line(demo, r"The leads' dashboard: (http://127\.0\.0\.1:\d+)/signin", deadline)
    with httpx.Client(base_url=found.group(1), timeout=10) as browser:
        form = browser.get("/signin")
        token = re.search(r'name="form_token" value="([^"]+)"', form.text)
        assert token is not None
        asked = browser.post(
            "/signin", data={"address": "hanna@example.com", "form_token": token.group(1)}
        )
        assert "a sign-in link is on its way" in asked.text
        link = _line(demo, r"the link in it: (http://\S+/signin/\S+)", deadline).group(1)
        button = browser.get(link)
        token = re.search(r'name="form_token" value="([^"]+)"', button.text)
        assert token is not None
        signed_in = browser.post(link, data={"form_token": token.group(1)})
        assert signed_in.status_code == 303
        page = browser.get("/dashboard")
        assert page.status_code == 200 and "Human Resources (HR)" in page.text
        assert "IT Support" not in page.text
