"""The gateway's side alone: from IMAP to committed ticket, against a bare fetch-and-parse
loop over the same Dovecot mailbox, in one run (``python -m bench.intake``).

Throughput counts from the first FETCH to the last commit (no notification is sent: the
workers are not running). The intake alone (store raw, then process, a batch of 100 at a
time, on SQLite, no IMAP) is timed too: it tells the gateway's own cost from the server's.
Latency APPENDs one mail every 200 ms to a mailbox the gateway watches with IDLE and times
each until its inbound row is committed.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import statistics
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

import psutil
from imapclient import IMAPClient
from sqlalchemy import func, select

from aliasdesk.db.models import InboundMail
from aliasdesk.runtime import Runtime, build_runtime
from aliasdesk.services.intake import RawMail, process_pending, store_raw
from aliasdesk.settings.env import load_settings
from bench.aliasdesk_runs import Mailbox
from bench.mailbox_gen import GeneratedMail, generate
from gateway.process import make_poller
from gateway.service import Intake

ROOT = Path(__file__).resolve().parents[1]


def _runtime(mailbox: Mailbox, folder: str, workdir: Path) -> Runtime:
    server = mailbox.server
    settings = replace(
        load_settings(environ={}, env_file=None),
        database_url=f"sqlite:///{workdir / 'intake.db'}",
        routing_file=ROOT / "config" / "routing.yaml",
        imap_host=server.host,
        imap_port=server.port,
        imap_username=server.username,
        imap_password=server.password,
        imap_security="none",
        imap_folder=folder,
        imap_poll_interval=1,
    )
    return build_runtime(settings)


def aliasdesk_intake(mailbox: Mailbox, template: str, count: int) -> float:
    folder = mailbox.fresh_copy(template)
    with tempfile.TemporaryDirectory() as tmp:
        runtime = _runtime(mailbox, folder, Path(tmp))
        poller = make_poller(runtime, Intake(runtime))
        with RssWatch() as rss:
            started = time.perf_counter()
            handed = poller.run_once()
            elapsed = time.perf_counter() - started
        poller.close()
        RSS_GROWTH.append(rss.growth_mb)
        with runtime.db.reader() as session:
            done = session.scalar(
                select(func.count()).select_from(InboundMail).where(InboundMail.state != "received")
            )
        runtime.close()
    assert handed == count and done == count, (handed, done, count)
    return count / elapsed


RSS_GROWTH: list[float] = []
"""How far the process's RSS rose above its level before each gateway run, in MB."""


class RssWatch:
    """Samples this process's RSS every 50 ms while a run lasts. The bench process also
    holds the generated mailbox, so the figure that belongs to the gateway is the rise
    above the level before the run, not the total."""

    def __init__(self) -> None:
        self._process = psutil.Process()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self.before: int = self._process.memory_info().rss
        self.peak = self.before

    def __enter__(self) -> RssWatch:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, self._process.memory_info().rss)

    @property
    def growth_mb(self) -> float:
        return float(self.peak - self.before) / 2**20


def intake_alone(mails: list[GeneratedMail]) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        settings = replace(
            load_settings(environ={}, env_file=None),
            database_url=f"sqlite:///{Path(tmp) / 'alone.db'}",
            routing_file=ROOT / "config" / "routing.yaml",
        )
        runtime = build_runtime(settings)
        started = time.perf_counter()
        for start in range(0, len(mails), 100):
            batch = [
                RawMail(m.raw, start + n + 1) for n, m in enumerate(mails[start : start + 100])
            ]
            store_raw(runtime.db, source="imap", mailbox="bench", uidvalidity=1, mails=batch)
            process_pending(runtime.db, runtime.routing.current, runtime.pipeline_settings)
        elapsed = time.perf_counter() - started
        runtime.close()
    return len(mails) / elapsed


def bare_fetch_parse(mailbox: Mailbox, template: str, count: int) -> float:
    server = mailbox.server
    client = IMAPClient(server.host, port=server.port, ssl=False)
    client.login(server.username, server.password)
    client.select_folder(template, readonly=True)
    started = time.perf_counter()
    uids = client.search("ALL")
    parsed = 0
    for start in range(0, len(uids), 100):
        fetched = client.fetch(uids[start : start + 100], ["BODY.PEEK[]"])
        for data in fetched.values():
            message = email.message_from_bytes(data[b"BODY[]"], policy=email.policy.default)
            parsed += message["Subject"] is not None or True
    elapsed = time.perf_counter() - started
    client.logout()
    assert parsed == count
    return count / elapsed


def idle_latency(mailbox: Mailbox, mails: int, gap: float) -> tuple[float, float]:
    folder = mailbox.empty_folder()
    raws = [m.raw for m in generate(mails, tag="lat")]
    with tempfile.TemporaryDirectory() as tmp:
        runtime = _runtime(mailbox, folder, Path(tmp))
        stop = threading.Event()
        poller = make_poller(runtime, Intake(runtime))
        thread = threading.Thread(target=poller.run_forever, args=(stop,), daemon=True)
        thread.start()
        time.sleep(2.0)  # connected and idling
        client = mailbox.server.client()
        latencies: list[float] = []
        for index, raw in enumerate(raws, start=1):
            appended = time.perf_counter()
            client.append(folder, raw)
            while True:
                with runtime.db.reader() as session:
                    done = session.scalar(
                        select(func.count())
                        .select_from(InboundMail)
                        .where(InboundMail.state != "received")
                    )
                if (done or 0) >= index:
                    break
                if time.perf_counter() - appended > 10:
                    raise RuntimeError(f"mail {index} not committed within 10 s")
                time.sleep(0.005)
            latencies.append(time.perf_counter() - appended)
            time.sleep(max(0.0, gap - latencies[-1]))
        client.logout()
        stop.set()
        thread.join(timeout=10)
        runtime.close()
    latencies.sort()
    return statistics.median(latencies), latencies[round(0.99 * (len(latencies) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mails", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--latency-mails", type=int, default=50)
    args = parser.parse_args()
    mails = generate(args.mails)
    mailbox = Mailbox()
    mailbox.start()
    try:
        mailbox.add_template("intake", mails)
        ours, bare, alone = [], [], []
        for _ in range(args.repeat):
            bare.append(bare_fetch_parse(mailbox, "intake", len(mails)))
            ours.append(aliasdesk_intake(mailbox, "intake", len(mails)))
            alone.append(intake_alone(mails))
        p50, p99 = idle_latency(mailbox, args.latency_mails, 0.2)
    finally:
        mailbox.stop()
    rss = psutil.Process().memory_info().rss / 2**20
    ours_m, bare_m = statistics.median(ours), statistics.median(bare)
    print(f"IMAP -> committed ticket, {len(mails)} mails, median of {args.repeat}")
    print(
        f"  aliasdesk gateway intake      {ours_m:8.1f} mails/s   runs {[round(x) for x in ours]}"
    )
    print(
        f"  bare fetch + parse loop       {bare_m:8.1f} mails/s   runs {[round(x) for x in bare]}"
    )
    print(f"  ratio aliasdesk / bare        {ours_m / bare_m:8.2f}x  (target >= 0.5x)")
    print(
        f"  intake alone, no IMAP         {statistics.median(alone):8.1f} mails/s   "
        f"runs {[round(x) for x in alone]}"
    )
    print(
        f"  APPEND -> committed, IDLE     p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms "
        f"over {args.latency_mails} mails (target p50 < 1 s)"
    )
    print(
        f"  gateway run: RSS rise         {max(RSS_GROWTH):.0f} MB at most over the level "
        "before it (the bench process also holds the generated mailbox)"
    )
    print(f"  bench process RSS at the end  {rss:.0f} MB")


if __name__ == "__main__":
    main()
