"""`make bench` keeps a list of results for every contender it runs in a repetition."""

from __future__ import annotations

from bench.aliasdesk_runs import PG1, PG2, SQLITE, SQLITE2
from bench.report import table
from bench.run import Found


def test_every_topology_of_a_repetition_has_a_place_for_its_results() -> None:
    found = Found()
    for topology in (SQLITE, SQLITE2, PG2, PG1):
        assert found.runs[topology.label] == []


def test_the_table_shows_lmtp_latency_against_its_goal() -> None:
    result = {
        "mails": 500,
        "throughput_mails_per_s": {SQLITE.label: 100.0, SQLITE2.label: 120.0},
        "bare_loop_mails_per_s": 90.0,
        "honest_floor_mails_per_s": 110.0,
        "honest_floor_mails_sent": 900,
        "django_helpdesk_mails_per_s": 20.0,
        "django_helpdesk_reason": "",
        "latency": {"p50_ms": 480.0, "p99_ms": 900.0},
        "lmtp_latency": {"mails": 200, "p50_ms": 60.0, "p99_ms": 300.0},
        "cpu_ms_per_mail": {},
        "import": None,
        "peak_rss_mb": {},
        "big_10k": {},
    }
    rows = {figure: (value, verdict) for figure, value, _target, verdict in table(result)}
    assert rows["latency LMTP DATA->ack p50 (200 mails @200 ms)"] == ("60.0 ms", "PASS")
    assert rows["latency LMTP DATA->ack p99"] == ("300.0 ms", "MISS")
    assert rows["run --processes 2 / 1 (sqlite)"][0] == "1.2x"
