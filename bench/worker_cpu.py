"""The job side alone: CPU per request of assigning tickets and sending their mail
(``python -m bench.worker_cpu [--mails N] [--profile FILE]``).

The bench's mailbox is taken in on SQLite a fetch batch at a time, as ``aliasdesk run``
does, and after each batch the relay runs every due job in this process (the embedded
broker) against a local SMTP sink. Only the job side is timed (process CPU time, and
wall time): the intake between batches is not. ``--profile`` writes a cProfile of the
job side alone, to read with ``python -m pstats`` or ``--top``.

It imports nothing but long-standing entry points (settings, runtime, intake, relay), so
the same file can time an older checkout: ``PYTHONPATH=/old/tree python bench/worker_cpu.py``.
"""

from __future__ import annotations

import argparse
import cProfile
import importlib
import json
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BATCH = 100


class _Sliced:
    """What a Dramatiq worker does with the relay's batch: slices of ``size`` jobs, each
    first held in this process's name, then run together (worker/actors.py)."""

    def __init__(self, runner: Any, size: int) -> None:
        self.runner = runner
        self.size = size
        # A checkout from before jobs were held by name has no hold_jobs.
        self.hold: Any = getattr(
            importlib.import_module("aliasdesk.services.outbox"), "hold_jobs", None
        )

    def __call__(self, job_id: int, _kind: str) -> None:
        self.runner.run(job_id)

    def many(self, jobs: Any) -> None:
        ids = [job_id for job_id, _ in jobs]
        for start in range(0, len(ids), self.size):
            part = ids[start : start + self.size]
            if self.hold is not None:
                self.hold(self.runner.db, part)
            self.runner.run_many(part)


def run(
    mails: int, profile: cProfile.Profile | None, database: str, slice_size: int
) -> dict[str, float]:
    """One run on a fresh database: seconds of CPU and wall spent in the job side."""
    from aliasdesk.relay import drain, inline_dispatch
    from aliasdesk.runtime import build_runtime
    from aliasdesk.services.intake import RawMail, process_pending, store_raw
    from aliasdesk.settings.env import load_settings
    from bench.aliasdesk_runs import database as fresh_database
    from bench.mailbox_gen import generate

    generated = generate(mails, tag="w")
    expected = sum(m.acks for m in generated)
    with (
        tempfile.TemporaryDirectory() as tmp,
        _Sink() as sink,
        fresh_database(database, Path(tmp)) as url,
    ):
        settings = load_settings(
            environ={
                "ALIASDESK_DATABASE_URL": url,
                "ALIASDESK_ROUTING_FILE": str(ROOT / "config" / "routing.yaml"),
                "ALIASDESK_SMTP_HOST": sink.host,
                "ALIASDESK_SMTP_PORT": str(sink.port),
                "ALIASDESK_SMTP_SECURITY": "none",
                "ALIASDESK_OUTSIDE_MAIL_PER_MINUTE": "0",
            },
            env_file=None,
        )
        runtime = build_runtime(settings)
        dispatch = (
            _Sliced(runtime.job_runner(), slice_size) if slice_size else inline_dispatch(runtime)
        )
        cpu = wall = 0.0
        for start in range(0, len(generated), BATCH):
            chunk = generated[start : start + BATCH]
            batch = [RawMail(m.raw, start + n + 1) for n, m in enumerate(chunk)]
            store_raw(runtime.db, source="imap", mailbox="bench", uidvalidity=1, mails=batch)
            process_pending(runtime.db, runtime.routing.current, runtime.pipeline_settings)
            cpu0, wall0 = time.process_time(), time.perf_counter()
            if profile is not None:
                profile.enable()
            drain(runtime, dispatch)
            if profile is not None:
                profile.disable()
            cpu += time.process_time() - cpu0
            wall += time.perf_counter() - wall0
        runtime.close()
    sent, acks = sink.counts
    megabytes = sink.bytes / 2**20
    if acks < expected:
        raise SystemExit(f"only {acks} of {expected} acknowledgements arrived")
    return {
        "cpu_ms_per_mail": cpu * 1000 / mails,
        "wall_ms_per_mail": wall * 1000 / mails,
        "mails_sent": sent,
        "megabytes_sent": megabytes,
    }


_SINK = """
import sys
from gateway.local_servers import SmtpSink
with SmtpSink() as sink:
    print(sink.port, flush=True)
    sys.stdin.read()
    heads = [m.data.split(b"\\r\\n\\r\\n")[0] for m in sink.messages]
    size = sum(len(m.data) for m in sink.messages)
    print(len(heads), sum(b"auto-replied" in h for h in heads), size, flush=True)
"""


class _Sink:
    """The SMTP sink in a process of its own, so its CPU is never counted as the job side's."""

    host = "127.0.0.1"

    def __enter__(self) -> _Sink:
        self._process = subprocess.Popen(
            [sys.executable, "-c", _SINK],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        assert self._process.stdout is not None
        self.port = int(self._process.stdout.readline())
        self.counts = (0, 0)
        return self

    def __exit__(self, *_exc: object) -> None:
        out, _ = self._process.communicate("", timeout=60)
        sent, acks, size = out.split()
        self.counts = (int(sent), int(acks))
        self.bytes = int(size)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mails", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument(
        "--slice", type=int, default=0, help="run the jobs in slices as a Dramatiq worker does"
    )
    parser.add_argument("--profile", type=Path, help="write a cProfile of the job side here")
    parser.add_argument("--top", type=int, default=0, help="print the N costliest functions")
    args = parser.parse_args()
    profile = cProfile.Profile() if args.profile or args.top else None
    runs = [run(args.mails, profile, args.database, args.slice) for _ in range(args.repeat)]
    cpu = statistics.median(r["cpu_ms_per_mail"] for r in runs)
    wall = statistics.median(r["wall_ms_per_mail"] for r in runs)
    if profile is not None and args.profile:
        profile.dump_stats(args.profile)
    if profile is not None and args.top:
        pstats.Stats(profile).sort_stats("cumulative").print_stats(args.top)
    print(
        json.dumps(
            {
                "mails": args.mails,
                "repeat": args.repeat,
                "cpu_ms_per_mail": round(cpu, 2),
                "wall_ms_per_mail": round(wall, 2),
                "runs": [round(r["cpu_ms_per_mail"], 2) for r in runs],
                "mails_sent": runs[-1]["mails_sent"],
                "megabytes_sent": round(runs[-1]["megabytes_sent"], 1),
            }
        )
    )


if __name__ == "__main__":
    main()
