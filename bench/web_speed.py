"""How fast the requester's ticket page answers under load (target: p95 under 50 ms with
50 clients at once).

Builds a database of real tickets (requests taken in by the intake, with a member's
answer on each), starts ``aliasdesk web`` as its own process, exactly as it is deployed,
and lets 50 concurrent httpx clients fetch the pages of random tickets through their
signed links. Prints the latency percentiles (nearest rank), the request rate, the CPU
each page cost the server and the load client, and the machine's load. The load client
runs on the same machine and takes CPU from the server; on a shared machine the
latencies say more about the neighbours than about the page, and the server's CPU per
page is the figure to compare between runs.

Run: ``.venv/bin/python -m bench.web_speed [--tickets 200] [--requests 5000]
[--clients 50] [--database-url postgresql+psycopg://...]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import replace
from email.utils import make_msgid
from pathlib import Path

import httpx
import psutil
from sqlalchemy import select

from aliasdesk.db.models import Ticket
from aliasdesk.runtime import build_runtime
from aliasdesk.services.intake import RawMail, process_pending, store_raw
from aliasdesk.services.page_links import page_token
from aliasdesk.settings.env import load_settings
from gateway.local_servers import free_port

ROOT = Path(__file__).resolve().parents[1]
ROUTING = ROOT / "config" / "routing.yaml"
TARGET_P95_MS = 50.0


def _mail(sender: str, to: str, subject: str, body: str, headers: str = "") -> bytes:
    return (
        f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\n"
        f"Message-ID: {make_msgid(domain='example.com')}\r\n{headers}"
        f"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    ).encode()


def build_tickets(database_url: str, count: int, key: str) -> list[str]:
    """``count`` tickets with a request and a member's answer each; their page paths."""
    settings = replace(
        load_settings(environ={}, env_file=None),
        database_url=database_url,
        routing_file=ROUTING,
        authserv_id="mx.example.com",
    )
    runtime = build_runtime(settings)
    try:
        requests = [
            _mail(
                f"Requester {n} <requester{n}@example.com>",
                random.choice(["hr@example.com", "it@example.com"]),
                f"Request number {n}",
                "Please help with this.\r\n" * 20,
            )
            for n in range(count)
        ]
        _feed(runtime, requests)
        with runtime.db.reader() as session:
            tickets = session.scalars(select(Ticket)).all()
        vouched = "Authentication-Results: mx.example.com; dmarc=pass header.from=example.com\r\n"
        answers = [
            _mail(
                "Alice <alice@example.com>"
                if t.department == "HR"
                else "Carol <carol@example.com>",
                "hr@example.com" if t.department == "HR" else "it@example.com",
                f"Re: [{t.ref}] {t.subject}",
                "Here is what we found.\r\n" * 10,
                vouched,
            )
            for t in tickets
        ]
        _feed(runtime, answers)
        return [f"/t/{page_token(key, ticket)}" for ticket in tickets]
    finally:
        runtime.close()


def _feed(runtime: object, raws: list[bytes]) -> None:
    from aliasdesk.runtime import Runtime

    assert isinstance(runtime, Runtime)
    start = int(time.time() * 1000) % 1_000_000_000
    store_raw(
        runtime.db,
        source="imap",
        mailbox="INBOX",
        uidvalidity=1,
        mails=[RawMail(raw, start + n) for n, raw in enumerate(raws)],
    )
    process_pending(runtime.db, runtime.routing.current, runtime.pipeline_settings)


def start_web(database_url: str, key: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALIASDESK_")}
    env.update(
        ALIASDESK_DATABASE_URL=database_url,
        ALIASDESK_ROUTING_FILE=str(ROUTING),
        ALIASDESK_SECRET_KEY=key,
        ALIASDESK_WEB_URL=f"http://127.0.0.1:{port}",
        ALIASDESK_WEB_PORT=str(port),
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "aliasdesk.cli.main", "web"],
        env=env,
        cwd=ROOT,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
            return process
        except httpx.TransportError:
            time.sleep(0.1)
    process.terminate()
    raise SystemExit(f"aliasdesk web did not start: {log.read_text()[-2000:]}")


async def load(base: str, paths: list[str], clients: int, total: int) -> tuple[list[float], float]:
    """``total`` page requests from ``clients`` concurrent clients; latencies in ms."""
    latencies: list[float] = []
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async def client(browser: httpx.AsyncClient, jobs: Iterator[int]) -> None:
        for _ in jobs:  # one shared iterator: the clients take turns at it
            path = random.choice(paths)
            started = time.perf_counter()
            answer = await browser.get(path)
            latencies.append((time.perf_counter() - started) * 1000)
            if answer.status_code != 200:
                raise SystemExit(f"{path}: HTTP {answer.status_code}")

    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as browser:
        warm_up = iter(range(clients * 4))
        await asyncio.gather(*(client(browser, warm_up) for _ in range(clients)))
        latencies.clear()
        jobs = iter(range(total))
        began = time.perf_counter()
        await asyncio.gather(*(client(browser, jobs) for _ in range(clients)))
        elapsed = time.perf_counter() - began
    return latencies, elapsed


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    rank = max(1, round(share * len(ordered) + 0.5))
    return ordered[min(rank, len(ordered)) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=200)
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--database-url", help="default: a fresh SQLite file")
    args = parser.parse_args()
    key = secrets.token_urlsafe(32)
    with tempfile.TemporaryDirectory(prefix="aliasdesk-web-bench-") as tmp:
        url = args.database_url or f"sqlite:///{tmp}/bench.db"
        paths = build_tickets(url, args.tickets, key)
        port = free_port()
        process = start_web(url, key, port, Path(tmp) / "web.log")
        try:
            base = f"http://127.0.0.1:{port}"
            server, client = psutil.Process(process.pid), psutil.Process()
            before = (_cpu(server), _cpu(client))
            latencies, elapsed = asyncio.run(load(base, paths, args.clients, args.requests))
            used = (_cpu(server) - before[0], _cpu(client) - before[1])
        finally:
            process.terminate()
            process.wait(timeout=30)
    p50, p95, p99 = (percentile(latencies, s) for s in (0.50, 0.95, 0.99))
    verdict = "met" if p95 < TARGET_P95_MS else "MISSED"
    print(
        f"ticket page, {len(paths)} tickets, {args.clients} concurrent clients, {url.split(':')[0]}"
    )
    print(f"  {len(latencies)} requests in {elapsed:.1f} s = {len(latencies) / elapsed:.0f} req/s")
    print(f"  p50 {p50:.1f} ms  p95 {p95:.1f} ms  p99 {p99:.1f} ms  max {max(latencies):.1f} ms")
    print(f"  target p95 < {TARGET_P95_MS:.0f} ms: {verdict}")
    per = [seconds / len(latencies) * 1000 for seconds in used]
    print(f"  CPU per page: server {per[0]:.2f} ms, load client {per[1]:.2f} ms")
    load1 = os.getloadavg()[0]
    print(f"  machine: {os.cpu_count()} cores, load average {load1:.1f} at the end")


if __name__ == "__main__":
    main()
