"""Latency of the two ways mail comes in, measured in one run (``python -m bench.lmtp_latency``).

LMTP: ``aliasdesk run`` (SQLite, embedded broker) with ``ALIASDESK_LMTP_PORT``; the bench
plays the MTA and hands over one request every ``spacing`` seconds, each to the aliases it
is addressed to, and times from the end of its DATA to the acknowledgement arriving at the
SMTP sink (the one whose In-Reply-To names the request). The time to the ``250`` (the
commit of the bytes) is reported beside it.

IDLE: the same process on Dovecot as ``bench.aliasdesk_runs.run_latency`` measures it (APPEND
to acknowledgement), so the two figures come from one run on one machine state.

:func:`measure` returns a dict of figures for the main bench table.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import smtplib
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from email.utils import getaddresses
from pathlib import Path
from typing import Any

import psutil

from aliasdesk.services.routing_holder import RoutingHolder
from bench.aliasdesk_runs import (
    ALIASDESK,
    ROOT,
    AckWatcher,
    BenchError,
    Mailbox,
    _percentile,
    _ready_at,
    _spawn,
    aliasdesk_env,
    database,
    run_latency,
)
from bench.instruments import stop_all
from bench.mailbox_gen import GeneratedMail, generate
from gateway.local_servers import SmtpSink, free_port

GOAL_P50_MS, GOAL_P99_MS = 100.0, 250.0
_ROUTING = ROOT / "config" / "routing.yaml"


def envelope_recipients(raw: bytes, aliases: frozenset[str]) -> list[str]:
    """The aliases among To and Cc: what the MTA would deliver to aliasdesk."""
    head = raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0].decode("utf-8", "replace")
    values = [
        line.split(":", 1)[1]
        for line in head.replace("\r\n ", " ").replace("\n ", " ").splitlines()
        if line.lower().startswith(("to:", "cc:"))
    ]
    found = [address.lower() for _, address in getaddresses(values)]
    return list(dict.fromkeys(a for a in found if a in aliases))


def _hand_over(
    port: int,
    mails: Sequence[GeneratedMail],
    aliases: frozenset[str],
    spacing: float,
    ended: dict[str, float],
    stored: list[float],
) -> None:
    """One LMTP session per mail, as Postfix opens them for a trickle of mail; the time
    recorded is the end of DATA (the last byte written), before the server's answer."""
    start = time.monotonic()
    for n, mail in enumerate(mails):
        delay = start + n * spacing - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        recipients = envelope_recipients(mail.raw, aliases)
        with smtplib.LMTP("127.0.0.1", port, timeout=30) as client:
            client.ehlo("mta.bench.test")
            client.mail(mail.requester)
            for address in recipients:
                client.rcpt(address)
            client.putcmd("data")
            code, _ = client.getreply()
            if code != 354:
                raise BenchError(f"DATA refused: {code}")
            client.send(_dot_stuffed(mail.raw))
            ended[mail.message_id] = time.monotonic()
            replies = [client.getreply()[0] for _ in recipients]
            stored.append((time.monotonic() - ended[mail.message_id]) * 1000)
            if any(code != 250 for code in replies):
                raise BenchError(f"LMTP refused {mail.message_id}: {replies}")


def _dot_stuffed(raw: bytes) -> bytes:
    lines = raw.replace(b"\r\n", b"\n").split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    body = b"\r\n".join(b"." + line if line.startswith(b".") else line for line in lines)
    return body + b"\r\n.\r\n"


def run_lmtp_latency(
    mailbox: Mailbox, mails: Sequence[GeneratedMail], *, spacing: float = 0.2
) -> dict[str, Any]:
    requests = [m for m in mails if m.kind == "request"]
    aliases = RoutingHolder(_ROUTING).current().all_aliases()
    folder = mailbox.empty_folder()
    workdir = Path(tempfile.mkdtemp(prefix="aliasdesk-lmtp-latency-"))
    ended: dict[str, float] = {}
    stored: list[float] = []
    port = free_port()
    with SmtpSink() as sink, database("sqlite", workdir) as db_url:
        env = aliasdesk_env(mailbox, folder, sink, db_url, "embedded")
        env["ALIASDESK_LMTP_PORT"] = str(port)
        subprocess.run(
            [ALIASDESK, "db", "upgrade"], env=env, cwd=ROOT, check=True, capture_output=True
        )
        # One process, as in earlier runs: a job process would add its 0.2 s look.
        process = _spawn(["run", "--processes", "1"], env, workdir / "main.log")
        try:
            _ready_at(workdir / "main.log", time.monotonic())
            time.sleep(1.0)  # the listener and the relay are up
            watcher = AckWatcher(sink)
            feeder = threading.Thread(
                target=_hand_over,
                args=(port, requests, aliases, spacing, ended, stored),
                daemon=True,
            )
            cpu_before = _cpu_seconds(process.pid)
            feeder.start()
            watcher.wait(sum(m.acks for m in requests), len(requests) * spacing + 30, [process])
            feeder.join(timeout=5)
            cpu = _cpu_seconds(process.pid) - cpu_before
        finally:
            stop_all([process])
    figures = _figures(requests, ended, watcher.arrivals, stored)
    shutil.rmtree(workdir, ignore_errors=True)  # kept, with its logs, when the run failed
    figures["cpu_ms_per_mail"] = round(cpu * 1000 / max(1, len(requests)), 1)
    figures["load_average"] = round(os.getloadavg()[0], 2)
    return figures


def _cpu_seconds(pid: int) -> float:
    """User and system CPU of the aliasdesk process (its threads included)."""
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def _figures(
    requests: Sequence[GeneratedMail],
    ended: dict[str, float],
    arrivals: dict[str, float],
    stored: list[float],
) -> dict[str, Any]:
    delays = sorted((arrivals[mid] - at) * 1000 for mid, at in ended.items() if mid in arrivals)
    if not delays:
        raise BenchError("no acknowledgement arrived during the LMTP latency run")
    stored.sort()
    return {
        "mails": len(requests),
        "p50_ms": round(_percentile(delays, 50), 1),
        "p99_ms": round(_percentile(delays, 99), 1),
        "max_ms": round(delays[-1], 1),
        "missing": len(requests) - len(delays),
        "to_250_p50_ms": round(_percentile(stored, 50), 1) if stored else None,
        "to_250_p99_ms": round(_percentile(stored, 99), 1) if stored else None,
    }


def measure(mails: int = 200, idle_mails: int = 100, spacing: float = 0.2) -> dict[str, Any]:
    """LMTP (end of DATA -> acknowledgement) and IDLE (APPEND -> acknowledgement) in one run.

    Returns ``{"lmtp": {...}, "idle": {...}, "goal": {...}, "met": bool}``; latencies in ms.
    """
    lmtp_mails = [m for m in generate(mails * 2, tag="lmtp") if m.kind == "request"][:mails]
    idle_source = generate(idle_mails * 2, tag="idle")
    idle_requests = [m for m in idle_source if m.kind == "request"][:idle_mails]
    mailbox = Mailbox()
    mailbox.start()
    try:
        lmtp = run_lmtp_latency(mailbox, lmtp_mails, spacing=spacing)
        idle = run_latency(mailbox, idle_requests, spacing=spacing)
    finally:
        mailbox.stop()
    return {
        "lmtp": lmtp,
        "idle": {
            "mails": idle.mails,
            "p50_ms": idle.p50_ms,
            "p99_ms": idle.p99_ms,
            "max_ms": idle.max_ms,
            "missing": idle.missing,
        },
        "goal": {"p50_ms": GOAL_P50_MS, "p99_ms": GOAL_P99_MS},
        "met": lmtp["p50_ms"] <= GOAL_P50_MS and lmtp["p99_ms"] <= GOAL_P99_MS,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mails", type=int, default=200, help="LMTP requests (default 200)")
    parser.add_argument("--idle-mails", type=int, default=100, help="IDLE requests (100)")
    parser.add_argument("--spacing", type=float, default=0.2, help="seconds between mails")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    figures = measure(args.mails, args.idle_mails, args.spacing)
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    lmtp, idle = figures["lmtp"], figures["idle"]
    print(f"{'path':<42} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'lost':>5}")
    rows = (
        (f"LMTP end of DATA -> ack ({lmtp['mails']} mails)", lmtp),
        (f"IDLE APPEND -> ack ({idle['mails']} mails)", idle),
    )
    for label, row in rows:
        print(
            f"{label:<42} {row['p50_ms']:>8} {row['p99_ms']:>8} {row['max_ms']:>8} "
            f"{row['missing']:>5}"
        )
    p50, p99 = lmtp["to_250_p50_ms"], lmtp["to_250_p99_ms"]
    print(f"LMTP end of DATA -> 250: p50 {p50} ms, p99 {p99} ms")
    print(
        f"aliasdesk run CPU per LMTP request: {lmtp['cpu_ms_per_mail']} ms; "
        f"load average at the end: {lmtp['load_average']} on {os.cpu_count()} cores"
    )
    verdict = "met" if figures["met"] else "missed"
    print(f"goal LMTP p50 <= {GOAL_P50_MS:.0f} ms, p99 <= {GOAL_P99_MS:.0f} ms: {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
