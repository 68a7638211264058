"""`make bench`: aliasdesk against a bare loop and django-helpdesk, on one Dovecot, one run.

    .venv/bin/python -m bench.run [--quick | --full]

Default: 1,000 mails, medians of 3, SQLite + embedded (`aliasdesk run`) and PostgreSQL +
Redis (gateway with two workers, and with one), the bare loop, django-helpdesk, a 100-mail
IDLE latency run, and 10,000 mails on SQLite once if the 10-minute budget allows.
``--quick``: 500 mails, one repetition, no 10,000 run (a CI smoke test).
``--full``: adds 10,000-mail runs on both backends, medians of 3 throughout.

Absolute numbers drift by about 30 % with machine load, so the repetitions of all
contenders are interleaved and the ratios are taken from medians of this one run.
Prints one table and writes bench/results/latest.json (the previous one becomes
previous.json, and the change against it is printed).
"""

from __future__ import annotations

import argparse
import functools
import json
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import helpdesk_peer
from bench.aliasdesk_runs import (
    PG1,
    PG2,
    SQLITE,
    BenchError,
    Mailbox,
    RunResult,
    run_backlog,
    run_latency,
)
from bench.instruments import CpuBudget, CpuMeter, RssSampler
from bench.mailbox_gen import generate, summary
from bench.report import changes, table
from gateway.local_servers import SmtpSink

RESULTS = Path(__file__).resolve().parent / "results"
BUDGET_S = 600.0


def _say(text: str) -> None:
    print(text, flush=True)


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 1) if values else None


def _bare(mailbox: Mailbox, template: str) -> dict[str, Any]:
    folder = mailbox.fresh_copy(template)
    server = mailbox.server
    meter = CpuMeter()
    with SmtpSink() as sink, RssSampler() as rss:
        meter.start()
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.bare_loop",
                "--host",
                server.host,
                "--port",
                str(server.port),
                "--user",
                server.username,
                "--password",
                server.password,
                "--folder",
                folder,
                "--smtp-port",
                str(sink.port),
            ],
            stdout=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).resolve().parents[1],
        )
        rss.watch("bare", process.pid)
        meter.watch("bare", process.pid)
        out, _ = process.communicate(timeout=900)
        cpu = meter.stop()
    if process.returncode != 0:
        raise BenchError(f"bare loop exited with {process.returncode}")
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    result["peak_rss_mb"] = rss.peak_mb().get("bare")
    result["cpu"] = cpu
    return result


def _peer(mailbox: Mailbox, template: str, count: int) -> helpdesk_peer.PeerResult:
    folder = mailbox.fresh_copy(template)
    server = mailbox.server
    with SmtpSink() as sink:
        return helpdesk_peer.run_peer(
            imap_port=server.port,
            user=server.username,
            password=server.password,
            folder=folder,
            smtp_port=sink.port,
            mails=count,
            sent=lambda: len(sink.messages),
        )


def _attempt(label: str, action: Callable[[], Any], errors: dict[str, str]) -> Any:
    """Run one measurement; a failure is recorded with its reason and the bench goes on."""
    try:
        return action()
    except Exception as exc:  # a broken contender must not hide the others' figures
        errors[label] = f"{type(exc).__name__}: {exc}"[:400]
        _say(f"  !! {label}: {errors[label]}")
        return None


def measure(args: argparse.Namespace) -> dict[str, Any]:
    began = time.monotonic()
    count = 500 if args.quick else 1000
    reps = 1 if args.quick else 3
    errors: dict[str, str] = {}
    mails = generate(count, tag="k")
    _say(f"mailbox: {summary(mails)}")
    mailbox = Mailbox()
    mailbox.start()
    try:
        append_s = mailbox.add_template("tmpl-small", mails)
        _say(f"appended {count} mails to Dovecot in {append_s:.1f} s (not timed)")
        runs: dict[str, list[RunResult]] = {SQLITE.label: [], PG2.label: [], PG1.label: []}
        bare: list[dict[str, Any]] = []
        peers: list[helpdesk_peer.PeerResult] = []
        for rep in range(1, reps + 1):
            _say(f"-- repetition {rep}/{reps}")
            for topology in (SQLITE, PG2, PG1):
                got = _attempt(
                    topology.label,
                    functools.partial(run_backlog, mailbox, "tmpl-small", mails, topology),
                    errors,
                )
                if got is not None:
                    runs[topology.label].append(got)
                    _say(
                        f"  {topology.label}: {got.mails_per_s:.1f} mails/s ({got.seconds:.1f} s, "
                        f"{got.seconds_with_startup:.1f} s with start-up) rss={got.peak_rss_mb}"
                    )
            got = _attempt("bare loop", lambda: _bare(mailbox, "tmpl-small"), errors)
            if got is not None:
                bare.append(got)
                _say(f"  bare loop: {got['mails_per_s']:.1f} mails/s rss={got['peak_rss_mb']} MB")
            if peers and peers[-1].mails_per_s is None:
                continue  # not installable or not runnable: said once, not retried
            peer = _attempt("django-helpdesk", lambda: _peer(mailbox, "tmpl-small", count), errors)
            if peer is not None:
                peers.append(peer)
                shown = (
                    f"{peer.mails_per_s:.1f} mails/s"
                    if peer.mails_per_s
                    else f"n/a ({peer.reason})"
                )
                _say(f"  django-helpdesk {helpdesk_peer.VERSION}: {shown}")
        latency = _attempt(
            "latency", lambda: run_latency(mailbox, generate(110, tag="lat")[:100]), errors
        )
        if latency is not None:
            _say(f"  latency: p50 {latency.p50_ms} ms, p99 {latency.p99_ms} ms")
        big = _big_runs(args, mailbox, runs, began, errors)
    finally:
        mailbox.stop()
    return _report(
        args, count, reps, runs, bare, peers, latency, big, errors, time.monotonic() - began
    )


def _big_runs(
    args: argparse.Namespace,
    mailbox: Mailbox,
    runs: dict[str, list[RunResult]],
    began: float,
    errors: dict[str, str],
) -> dict[str, Any]:
    """10,000 mails: every topology in --full; on SQLite once by default if the budget allows."""
    if args.quick:
        return {"skipped": "--quick"}
    small = runs[SQLITE.label]
    rate = statistics.median(r.mails_per_s for r in small) if small else 0.0
    estimate = 10_000 / rate * 1.2 + 60 if rate else float("inf")
    left = BUDGET_S - (time.monotonic() - began)
    if not args.full and estimate > left:
        why = (
            f"skipped: an estimated {estimate:.0f} s at {rate:.0f} mails/s exceeds the "
            f"{left:.0f} s left of the {BUDGET_S:.0f} s budget; run --full"
        )
        _say(f"  10,000 mails {why}")
        return {"skipped": why}
    big_mails = generate(10_000, tag="b")
    mailbox.add_template("tmpl-big", big_mails)
    out: dict[str, Any] = {}
    for topology in (SQLITE, PG2) if args.full else (SQLITE,):
        results = []
        for _ in range(3 if args.full else 1):
            got = _attempt(
                f"{topology.label} 10k",
                functools.partial(
                    run_backlog, mailbox, "tmpl-big", big_mails, topology, timeout=1800
                ),
                errors,
            )
            if got is not None:
                results.append(got)
                _say(f"  10k {topology.label}: {got.mails_per_s:.1f} mails/s rss={got.peak_rss_mb}")
        if results:
            out[topology.label] = {
                "mails_per_s": _median([r.mails_per_s for r in results]),
                "peak_rss_mb": _max_rss(results),
                "rss_growth": results[-1].rss_growth,
            }
    return out


def _max_rss(results: list[RunResult]) -> dict[str, float]:
    peak: dict[str, float] = {}
    for result in results:
        for label, mb in result.peak_rss_mb.items():
            peak[label] = max(peak.get(label, 0.0), mb)
    return peak


def _cpu_medians(budgets: list[CpuBudget | None], mails: int) -> dict[str, float]:
    """Median milliseconds of CPU per mail for each process group, over the repetitions."""
    per_group: dict[str, list[float]] = {}
    for budget in budgets:
        if budget is None:
            continue
        for group, ms in budget.ms_per_mail(mails).items():
            per_group.setdefault(group, []).append(ms)
    medians = {g: round(statistics.median(v), 2) for g, v in per_group.items()}
    return dict(sorted(medians.items(), key=lambda kv: -kv[1]))


def _report(
    args: argparse.Namespace,
    count: int,
    reps: int,
    runs: dict[str, list[RunResult]],
    bare: list[dict[str, Any]],
    peers: list[helpdesk_peer.PeerResult],
    latency: Any,
    big: dict[str, Any],
    errors: dict[str, str],
    seconds: float,
) -> dict[str, Any]:
    tput = {label: _median([r.mails_per_s for r in results]) for label, results in runs.items()}
    rates = [p.mails_per_s for p in peers if p.mails_per_s]
    return {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "mode": "quick" if args.quick else "full" if args.full else "default",
        "mails": count,
        "repetitions": reps,
        "throughput_mails_per_s": tput,
        "throughput_with_startup_s": {
            label: _median([r.seconds_with_startup for r in results])
            for label, results in runs.items()
        },
        "bare_loop_mails_per_s": _median([b["mails_per_s"] for b in bare]),
        "django_helpdesk_mails_per_s": _median(rates),
        "django_helpdesk_reason": next(
            (p.reason for p in peers if p.reason), errors.get("django-helpdesk", "")
        ),
        "django_helpdesk_mails_sent": peers[-1].mails_sent if peers else None,
        "latency": asdict(latency) if latency is not None else None,
        "peak_rss_mb": {label: _max_rss(results) for label, results in runs.items()}
        | {"bare loop": {"bare": max((b["peak_rss_mb"] or 0) for b in bare)} if bare else {}},
        "rss_growth_in_run": {
            label: results[-1].rss_growth for label, results in runs.items() if results
        },
        "cpu_ms_per_mail": {
            label: _cpu_medians([r.cpu for r in results], count)
            for label, results in runs.items()
            if results
        }
        | ({"bare loop": _cpu_medians([b["cpu"] for b in bare], count)} if bare else {}),
        "big_10k": big,
        "errors": errors,
        "bench_seconds": round(seconds, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="aliasdesk benchmark (see bench/README.md)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="500 mails, 1 repetition (CI smoke)")
    mode.add_argument("--full", action="store_true", help="adds 10,000-mail runs on both backends")
    args = parser.parse_args(argv)
    result = measure(args)
    rows = table(result)
    width = max(len(row[0]) for row in rows)
    _say(
        f"\n== aliasdesk bench ({result['mode']}, {result['mails']} mails, median of "
        f"{result['repetitions']}, {result['bench_seconds']} s) =="
    )
    _say(f"{'figure':<{width}}  {'value':>20}  {'target':<16} verdict")
    for name, value, target, verdict in rows:
        _say(f"{name:<{width}}  {value:>20}  {target:<16} {verdict}")
    if result["errors"]:
        _say("errors: " + json.dumps(result["errors"], indent=1))
    RESULTS.mkdir(exist_ok=True)
    latest, previous = RESULTS / "latest.json", RESULTS / "previous.json"
    if latest.exists():
        shutil.copyfile(latest, previous)
        lines = changes(result, json.loads(previous.read_text()))
        if lines:
            _say(
                "change vs previous run (" + json.loads(previous.read_text()).get("at", "?") + "):"
            )
            for line in lines:
                _say(line)
    latest.write_text(json.dumps(result, indent=2) + "\n")
    _say(f"written {latest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
