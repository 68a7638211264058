"""The Prometheus endpoint, scraped over real HTTP from a real database."""

from __future__ import annotations

import re
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from aliasdesk.db.session import Database
from aliasdesk.metrics import start_metrics_server
from aliasdesk.runtime import Runtime
from gateway.local_servers import SmtpSink
from tests.support.harness import build_mail, drain_jobs, feed, runtime_for
from tests.support.services import free_port

SAMPLE = re.compile(r"^([a-z_]+)(?:\{([^}]*)\})? (\S+)$")


def scrape(port: int, path: str = "/metrics") -> tuple[str, str]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
        return response.headers["Content-Type"], response.read().decode()


def samples(text: str) -> dict[str, float]:
    """``name{labels}`` -> value, for every sample line (comments checked separately)."""
    found: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        match = SAMPLE.match(line)
        assert match, f"not exposition format: {line!r}"
        name, labels, value = match.groups()
        found[f"{name}{{{labels}}}" if labels else name] = float(value)
    return found


@pytest.fixture
def runtime(sqlite_url: str, smtp_sink: SmtpSink) -> Iterator[Runtime]:
    built = runtime_for(sqlite_url, smtp_sink.port)
    yield built
    built.close()


@pytest.fixture
def metrics_port(runtime: Runtime) -> Iterator[int]:
    port = free_port()
    stop = start_metrics_server(runtime.db, port)
    yield port
    stop()


def test_an_empty_installation_exports_every_series_at_zero(metrics_port: int) -> None:
    content_type, text = scrape(metrics_port)
    assert content_type.startswith("text/plain; version=0.0.4")
    values = samples(text)
    assert values["aliasdesk_database_up"] == 1
    assert values['aliasdesk_mail_by_outcome{outcome="quarantined"}'] == 0
    assert values['aliasdesk_tickets{status="open"}'] == 0
    assert values["aliasdesk_jobs_waiting"] == 0
    assert values["aliasdesk_last_fetch_timestamp_seconds"] == 0
    assert "# TYPE aliasdesk_mail_received_total counter" in text
    assert "# TYPE aliasdesk_quarantine_size gauge" in text


def test_the_numbers_follow_the_mail(runtime: Runtime, metrics_port: int) -> None:
    before = time.time()
    request = build_mail(message_id="<m1@example.com>")
    feed(
        runtime,
        request,
        request,  # fetched twice: one duplicate
        build_mail("erika@example.com", "it@example.com", "VPN", message_id="<m2@example.com>"),
        build_mail("x@example.com", "nobody@example.com", "?", message_id="<m3@example.com>"),
        build_mail(headers={"Auto-Submitted": "auto-replied"}),
    )
    waiting = samples(scrape(metrics_port)[1])
    assert waiting["aliasdesk_jobs_waiting"] >= 2  # two tickets to assign, nothing run yet

    drain_jobs(runtime)
    values = samples(scrape(metrics_port)[1])
    assert values["aliasdesk_mail_received_total"] == 5
    assert values['aliasdesk_mail_by_outcome{outcome="new_ticket"}'] == 2
    assert values['aliasdesk_mail_by_outcome{outcome="duplicate"}'] == 1
    assert values['aliasdesk_mail_by_outcome{outcome="ignored"}'] == 1
    assert values['aliasdesk_mail_by_outcome{outcome="quarantined"}'] == 1
    assert values["aliasdesk_quarantine_size"] == 1
    assert values['aliasdesk_tickets{status="new"}'] == 2
    assert values["aliasdesk_jobs_waiting"] == 0
    assert values['aliasdesk_deliveries{state="sent"}'] >= 2  # the acknowledgements
    assert values["aliasdesk_deliveries_failed"] == 0
    assert before - 1 <= values["aliasdesk_last_fetch_timestamp_seconds"] <= time.time() + 1


def test_only_metrics_is_served_and_only_on_loopback(metrics_port: int) -> None:
    with pytest.raises(urllib.error.HTTPError) as caught:
        scrape(metrics_port, "/")
    assert caught.value.code == 404
    # Listening on 127.0.0.1 only: the port is not open on the wildcard address's other
    # loopback alias, which a server bound to 0.0.0.0 would answer on.
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"http://127.0.0.2:{metrics_port}/metrics", timeout=2)


def test_a_database_outage_is_reported_not_hidden(tmp_path: object) -> None:
    broken = Database(f"sqlite:///{tmp_path}/missing-folder/aliasdesk.db")
    port = free_port()
    stop = start_metrics_server(broken, port)
    try:
        values = samples(scrape(port)[1])
    finally:
        stop()
        broken.dispose()
    assert values == {"aliasdesk_database_up": 0}


def test_a_taken_port_fails_at_start(metrics_port: int, runtime: Runtime) -> None:
    with pytest.raises(OSError):
        start_metrics_server(runtime.db, metrics_port)
