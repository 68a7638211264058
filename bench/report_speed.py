"""How long ``aliasdesk report`` takes over a large history, on SQLite and PostgreSQL.

Fills a fresh database (made by the migrations) with a year of tickets (100,000 by
default, seeded) whose recorded figures look like a real desk's: most answered, most
resolved, some reopened, some rated, a few without an owner. Then times the report's
database work and JSON (:func:`service_figures` and ``json.dumps``) for each grouping over
the whole year, and for one department by week, and prints the median of the rounds
against the 2-second target. Next to the wall time it prints the CPU time of this
process (on SQLite that is all of the database work; on PostgreSQL the server's share is
not in it) and the machine's load average: on a shared machine the wall time grows with
the queue for the cores, the CPU time does not.

Run: ``.venv/bin/python -m bench.report_speed [--tickets N] [--rounds N]
[--backend sqlite|postgresql|both]``. PostgreSQL is reached as in the tests
(``ALIASDESK_TEST_PG_HOST``, default 127.0.0.1, user postgres); a fresh database is made
and dropped.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from aliasdesk.db import schema
from aliasdesk.db.models import Ticket
from aliasdesk.db.session import Database
from aliasdesk.services.service_figures import Period, service_figures

TARGET_SECONDS = 2.0
YEAR_START = datetime(2026, 1, 1, tzinfo=UTC)
DEPARTMENTS = {"HR": 4, "IT": 6, "FAC": 3, "FIN": 3}  # members each
CHUNK = 5000


def _ticket(rng: random.Random, number: int, department: str) -> dict[str, Any]:
    created = YEAR_START + timedelta(seconds=rng.randrange(364 * 86400))
    members = DEPARTMENTS[department]
    owner = None if rng.random() < 0.05 else f"m{rng.randrange(members)}.{department}@example.com"
    row: dict[str, Any] = {
        "department": department,
        "number": number,
        "subject": "request",
        "requester": f"person{rng.randrange(5000)}@example.com",
        "requester_name": "",
        "owner": owner,
        "status": "open",
        "priority": rng.choice(("low", "normal", "normal", "high")),
        "reply_token": uuid.uuid4().hex[:32],
        "assigned": True,
        "created_at": created,
        "updated_at": created,
        "target_first_response_s": 4 * 3600,
        "target_resolution_s": 3 * 86400,
        "reopen_count": 0,
        "sla_paused_s": 0,
    }
    if rng.random() < 0.9:
        first = rng.randrange(60, 12 * 3600)
        row.update(first_response_s=first, first_response_at=created + timedelta(seconds=first))
    if rng.random() < 0.8:
        whole = max(row.get("first_response_s") or 0, rng.randrange(600, 6 * 86400))
        resolved_at = created + timedelta(seconds=whole)
        row.update(resolution_s=whole, resolved_at=resolved_at, updated_at=resolved_at)
        row.update(status="resolved", reopen_count=1 if rng.random() < 0.05 else 0)
        row.update(rating=rng.choice((1, 2, 3, 4, 4, 5, 5, 5)) if rng.random() < 0.4 else None)
    return row


def fill(db: Database, count: int, seed: int = 17) -> None:
    rng = random.Random(seed)
    numbers = dict.fromkeys(DEPARTMENTS, 0)
    rows: list[dict[str, Any]] = []
    with db.unit_of_work() as session:
        for _ in range(count):
            department = rng.choice(list(DEPARTMENTS))
            numbers[department] += 1
            rows.append(_ticket(rng, numbers[department], department))
            if len(rows) == CHUNK:
                session.execute(insert(Ticket), rows)
                rows = []
        if rows:
            session.execute(insert(Ticket), rows)


@contextmanager
def database(backend: str) -> Iterator[Database]:
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            db = Database(f"sqlite:///{Path(folder) / 'report.db'}")
            try:
                yield db
            finally:
                db.dispose()
        return
    import psycopg

    host = os.environ.get("ALIASDESK_TEST_PG_HOST", "127.0.0.1")
    admin = f"postgresql://postgres@{host}:5432/postgres"
    name = f"aliasdesk_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    db = Database(f"postgresql+psycopg://postgres@{host}:5432/{name}")
    try:
        yield db
    finally:
        db.dispose()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


CASES: list[tuple[str, str, str | None]] = [
    ("year by department", "department", None),
    ("year by owner", "owner", None),
    ("year by week", "week", None),
    ("year by month", "month", None),
    ("HR by week", "week", "HR"),
]


Result = tuple[str, str, float, float]
"""(backend, case, median wall seconds, median CPU seconds of this process)"""


def time_report(db: Database, by: str, department: str | None) -> tuple[float, float]:
    period = Period(YEAR_START, YEAR_START + timedelta(days=365), department=department)
    started, cpu = time.perf_counter(), time.process_time()
    with db.reader() as session:
        report = service_figures(session, period, by, tuple(DEPARTMENTS))
    json.dumps(report)
    return time.perf_counter() - started, time.process_time() - cpu


def run_backend(backend: str, tickets: int, rounds: int) -> list[Result]:
    results: list[Result] = []
    with database(backend) as db:
        schema.upgrade(db)
        started = time.perf_counter()
        fill(db, tickets)
        print(f"{backend}: {tickets:,} tickets written in {time.perf_counter() - started:.1f} s")
        for label, by, department in CASES:
            times = [time_report(db, by, department) for _ in range(rounds)]
            wall = statistics.median(t[0] for t in times)
            results.append((backend, label, wall, statistics.median(t[1] for t in times)))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    args = parser.parse_args()
    backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    results = [row for b in backends for row in run_backend(b, args.tickets, args.rounds)]
    print(f"\nreport over {args.tickets:,} tickets, median of {args.rounds} (target < 2 s)")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"  {'backend':<11} {'report':<20} {'wall':>8}     {'cpu here':>8}")
    for backend, label, wall, cpu in results:
        verdict = "ok" if wall < TARGET_SECONDS else "OVER"
        print(f"  {backend:<11} {label:<20} {wall * 1000:5.0f} ms  {cpu * 1000:5.0f} ms  {verdict}")


if __name__ == "__main__":
    main()
