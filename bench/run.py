"""`make bench`: aliasdesk against two bare loops and django-helpdesk, on one Dovecot, one
run, then a backfill.

    .venv/bin/python -m bench.run [--quick | --full] [--import-mails N]

Default: 1,000 mails, medians of 3, SQLite + embedded (`aliasdesk run` in one process and
in two) and PostgreSQL +
Redis (gateway with two workers, and with one), the honest floor and the old bare loop,
django-helpdesk, a 100-mail IDLE latency run, 10,000 mails on SQLite once if the 10-minute
budget allows, and `import --no-mail` of 100,000 mails (outside that budget).
``--quick``: 500 mails, one repetition, no 10,000 run, a 5,000-mail import (a CI smoke test).
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
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import helpdesk_peer, import_speed
from bench.aliasdesk_runs import (
    PG1,
    PG2,
    SQLITE,
    SQLITE2,
    BenchError,
    Mailbox,
    RunResult,
    run_backlog,
    run_latency,
)
from bench.import_speed import ImportResult, run_import
from bench.instruments import CpuBudget, CpuMeter, RssSampler
from bench.lmtp_latency import run_lmtp_latency
from bench.mailbox_gen import GeneratedMail, generate, summary
from bench.report import changes, table
from gateway.local_servers import SmtpSink

RESULTS = Path(__file__).resolve().parent / "results"
BUDGET_S = 600.0


def _say(text: str) -> None:
    print(text, flush=True)


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 1) if values else None


def _bare(mailbox: Mailbox, template: str, *, legacy: bool = False) -> dict[str, Any]:
    """The bare loop in its own process: the honest floor, or the old loop (``legacy``)."""
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
                *(["--legacy"] if legacy else []),
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


@dataclass
class Found:
    """Everything one bench run measured, as the repetitions add to it."""

    runs: dict[str, list[RunResult]] = field(
        default_factory=lambda: {t.label: [] for t in (SQLITE, SQLITE2, PG2, PG1)}
    )
    bare: list[dict[str, Any]] = field(default_factory=list)  # the old loop
    honest: list[dict[str, Any]] = field(default_factory=list)  # the honest floor
    peers: list[helpdesk_peer.PeerResult] = field(default_factory=list)
    latency: Any = None
    lmtp: dict[str, Any] | None = None  # LMTP end of DATA -> acknowledgement
    big: dict[str, Any] = field(default_factory=dict)
    backfill: ImportResult | None = None
    errors: dict[str, str] = field(default_factory=dict)


def measure(args: argparse.Namespace) -> dict[str, Any]:
    began = time.monotonic()
    count = 500 if args.quick else 1000
    reps = 1 if args.quick else 3
    found = Found()
    mails = generate(count, tag="k")
    _say(f"mailbox: {summary(mails)}")
    mailbox = Mailbox()
    mailbox.start()
    try:
        append_s = mailbox.add_template("tmpl-small", mails)
        _say(f"appended {count} mails to Dovecot in {append_s:.1f} s (not timed)")
        for rep in range(1, reps + 1):
            _say(f"-- repetition {rep}/{reps}")
            _repetition(mailbox, mails, found)
        found.latency = _attempt(
            "latency", lambda: run_latency(mailbox, generate(110, tag="lat")[:100]), found.errors
        )
        if found.latency is not None:
            _say(f"  latency: p50 {found.latency.p50_ms} ms, p99 {found.latency.p99_ms} ms")
        lmtp_requests = [m for m in generate(400, tag="lmtp") if m.kind == "request"][:200]
        found.lmtp = _attempt(
            "lmtp latency", lambda: run_lmtp_latency(mailbox, lmtp_requests), found.errors
        )
        if found.lmtp is not None:
            _say(f"  LMTP latency: p50 {found.lmtp['p50_ms']} ms, p99 {found.lmtp['p99_ms']} ms")
        found.big = _big_runs(args, mailbox, found.runs, began, found.errors)
    finally:
        mailbox.stop()
    backfill = args.import_mails or (import_speed.QUICK if args.quick else import_speed.FULL)
    found.backfill = _attempt("import", lambda: run_import(backfill), found.errors)
    if found.backfill is not None:
        b = found.backfill
        _say(
            f"  import --no-mail of {b.mails} mails: {b.mails_per_s} mails/s "
            f"({b.mails_per_cpu_s} per CPU-second), peak RSS {b.peak_rss_mb} MB"
        )
    return _report(args, count, reps, found, time.monotonic() - began)


def _repetition(mailbox: Mailbox, mails: list[GeneratedMail], found: Found) -> None:
    """One of each contender, in turn, so that machine load falls on all alike."""
    errors = found.errors
    for topology in (SQLITE, SQLITE2, PG2, PG1):
        got = _attempt(
            topology.label,
            functools.partial(run_backlog, mailbox, "tmpl-small", mails, topology),
            errors,
        )
        if got is not None:
            found.runs[topology.label].append(got)
            _say(
                f"  {topology.label}: {got.mails_per_s:.1f} mails/s ({got.seconds:.1f} s, "
                f"{got.seconds_with_startup:.1f} s with start-up) rss={got.peak_rss_mb}"
            )
    got = _attempt("honest floor", lambda: _bare(mailbox, "tmpl-small"), errors)
    if got is not None:
        found.honest.append(got)
        _say(f"  honest floor: {got['mails_per_s']:.1f} mails/s, {got['sent']} mails sent")
    got = _attempt("bare loop", lambda: _bare(mailbox, "tmpl-small", legacy=True), errors)
    if got is not None:
        found.bare.append(got)
        _say(f"  old bare loop: {got['mails_per_s']:.1f} mails/s rss={got['peak_rss_mb']} MB")
    if found.peers and found.peers[-1].mails_per_s is None:
        return  # not installable or not runnable: said once, not retried
    peer = _attempt("django-helpdesk", lambda: _peer(mailbox, "tmpl-small", len(mails)), errors)
    if peer is not None:
        found.peers.append(peer)
        shown = f"{peer.mails_per_s:.1f} mails/s" if peer.mails_per_s else f"n/a ({peer.reason})"
        _say(f"  django-helpdesk {helpdesk_peer.VERSION}: {shown}")


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
    args: argparse.Namespace, count: int, reps: int, found: Found, seconds: float
) -> dict[str, Any]:
    runs, bare, honest, peers = found.runs, found.bare, found.honest, found.peers
    latency, big, errors = found.latency, found.big, found.errors
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
        "honest_floor_mails_per_s": _median([b["mails_per_s"] for b in honest]),
        "honest_floor_mails_sent": honest[-1]["sent"] if honest else None,
        "django_helpdesk_mails_per_s": _median(rates),
        "django_helpdesk_reason": next(
            (p.reason for p in peers if p.reason), errors.get("django-helpdesk", "")
        ),
        "django_helpdesk_mails_sent": peers[-1].mails_sent if peers else None,
        "latency": asdict(latency) if latency is not None else None,
        "lmtp_latency": found.lmtp,
        "peak_rss_mb": {label: _max_rss(results) for label, results in runs.items()}
        | {"bare loop": {"bare": max((b["peak_rss_mb"] or 0) for b in bare)} if bare else {}}
        | (
            {"honest floor": {"bare": max((b["peak_rss_mb"] or 0) for b in honest)}}
            if honest
            else {}
        ),
        "rss_growth_in_run": {
            label: results[-1].rss_growth for label, results in runs.items() if results
        },
        "cpu_ms_per_mail": {
            label: _cpu_medians([r.cpu for r in results], count)
            for label, results in runs.items()
            if results
        }
        | ({"bare loop": _cpu_medians([b["cpu"] for b in bare], count)} if bare else {})
        | ({"honest floor": _cpu_medians([b["cpu"] for b in honest], count)} if honest else {}),
        "big_10k": big,
        "import": asdict(found.backfill) if found.backfill is not None else None,
        "errors": errors,
        "bench_seconds": round(seconds, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="aliasdesk benchmark (see bench/README.md)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="500 mails, 1 repetition (CI smoke)")
    mode.add_argument("--full", action="store_true", help="adds 10,000-mail runs on both backends")
    parser.add_argument(
        "--import-mails",
        type=int,
        default=0,
        help="import run size (100,000; --quick: 5,000)",
    )
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
