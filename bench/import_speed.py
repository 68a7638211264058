"""Backfill: ``aliasdesk import MBOX --no-mail`` as users run it, timed and its memory
sampled (``python -m bench.import_speed [--mails N]``; ``bench.run`` runs it too).

The mbox is written from the bench's own generator (bench.mailbox_gen, seeded) into a
temporary folder, so every run imports the same bytes into a fresh SQLite database after
``aliasdesk db upgrade``. The rate counts the whole command, start-up included, because
that is what an administrator waits for; the peak RSS is the command's with the processes
it starts (its helper process, and multiprocessing's resource tracker) summed. Its CPU
time, the helper's included, is read from the kernel when it exits, so the rate it would
reach on a core of its own is printed too (the bench shares its cores with other work).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.aliasdesk_runs import ALIASDESK, ROOT
from bench.instruments import RssSampler
from bench.mailbox_gen import generate

FULL = 100_000
QUICK = 5_000
CHUNK = 5_000
"""Mails generated and written at a time: the bench process never holds the whole mbox."""


@dataclass
class ImportResult:
    mails: int
    seconds: float
    mails_per_s: float
    peak_rss_mb: float | None
    cpu_seconds: float
    mails_per_cpu_s: float
    """Mails per second of the command's own CPU: what the rate would be on an idle core."""
    mbox_mb: float


def write_mbox(path: Path, count: int) -> None:
    """``count`` generated mails as one mbox (``From `` lines quoted as mboxrd does)."""
    with open(path, "wb") as out:
        for start in range(0, count, CHUNK):
            for n, mail in enumerate(generate(min(CHUNK, count - start), tag=f"i{start}")):
                body = mail.raw.replace(b"\r\n", b"\n")
                body = b"\n".join(
                    b">" + line if line.lstrip(b">").startswith(b"From ") else line
                    for line in body.split(b"\n")
                )
                out.write(f"From bench-{start + n}@example.com Mon Jan  1 00:00:00 2024\n".encode())
                out.write(body.rstrip(b"\n") + b"\n\n")


def run_import(count: int, workdir: Path | None = None) -> ImportResult:
    """Generate, then time one ``import --no-mail`` of ``count`` mails on SQLite. The
    mbox and the database (4 GB for 100,000 mails) are deleted afterwards unless they were
    written to ``workdir``."""
    if workdir is not None:
        return _timed_import(count, Path(workdir))
    with tempfile.TemporaryDirectory(prefix="aliasdesk-import-") as folder:
        return _timed_import(count, Path(folder))


def _timed_import(count: int, folder: Path) -> ImportResult:
    mbox = folder / "backfill.mbox"
    write_mbox(mbox, count)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALIASDESK_")}
    env.update(
        ALIASDESK_DATABASE_URL=f"sqlite:///{folder / 'import.db'}",
        ALIASDESK_ROUTING_FILE=str(ROOT / "config" / "routing.yaml"),
    )
    subprocess.run([ALIASDESK, "db", "upgrade"], env=env, cwd=ROOT, check=True, capture_output=True)
    with RssSampler() as rss, open(folder / "import.log", "wb") as log:
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        began = time.monotonic()
        process = subprocess.Popen(
            [ALIASDESK, "import", str(mbox), "--no-mail"],
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        rss.watch("import", process.pid, with_children=True)
        code = process.wait(timeout=7200)
        seconds = time.monotonic() - began
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (children.ru_utime + children.ru_stime)
    if code != 0:
        tail = (folder / "import.log").read_text(errors="replace")[-1500:]
        raise RuntimeError(f"aliasdesk import exited with {code}:\n{tail}")
    return ImportResult(
        mails=count,
        seconds=round(seconds, 1),
        mails_per_s=round(count / seconds, 1),
        peak_rss_mb=rss.peak_mb().get("import"),
        cpu_seconds=round(cpu, 1),
        mails_per_cpu_s=round(count / cpu, 1) if cpu > 0 else 0.0,
        mbox_mb=round(mbox.stat().st_size / 2**20, 1),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mails", type=int, default=FULL)
    args = parser.parse_args()
    print(json.dumps(asdict(run_import(args.mails))))


if __name__ == "__main__":
    main()
