"""kill -9 in the middle of ``aliasdesk import --no-mail``, several times, then a run to the
end: every mail of the archive is in the inbound log exactly once, every request is one
ticket with an owner, every follow-up an update of its request's ticket, a second copy of a
mail a logged duplicate, the unreadable mail quarantined with its bytes, and nothing sent.

The kills land while batches are being stored and processed and, where the run gets that
far, while the owners are assigned; each re-run must finish what the killed one left.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest
from sqlalchemy import create_engine, text

from tests.crash.procs import ALIASDESK, ROOT, migrate, wait_until
from tests.e2e.test_import import old_mail
from tests.support.harness import ROUTING
from tests.support.mbox_files import write_mbox

REQUESTS = 160
FOLLOW_UPS = 60
COPIES = 20
UNREADABLE = b"\x00\xff garbage without a header\r\n"
TOTAL = REQUESTS + FOLLOW_UPS + COPIES + 1
ALIASES = ("hr@example.com", "it@example.com", "facilities@example.com")


def _archive(folder: Path) -> Path:
    """Requests, follow-ups (In-Reply-To their request), second copies of requests under
    the same Message-ID with other bytes, and one unreadable mail, in shuffled order."""
    mails = [
        old_mail(n, f"person{n}@example.com", ALIASES[n % 3], f"Request {n}")
        for n in range(REQUESTS)
    ]
    mails += [
        old_mail(
            REQUESTS + n,
            f"person{n}@example.com",
            ALIASES[n % 3],
            f"Re: Request {n}",
            in_reply_to=f"<old-{n}@example.com>",
        )
        for n in range(FOLLOW_UPS)
    ]
    mails += [b"X-Copy: second\r\n" + mails[n] for n in range(COPIES)]
    mails.append(UNREADABLE)
    random.Random(7).shuffle(mails)
    return write_mbox(folder / "archive.mbox", mails)


def _query(url: str) -> Callable[[str], int]:
    engine = create_engine(url)

    def scalar(sql: str) -> int:
        with engine.connect() as connection:
            return int(connection.execute(text(sql)).scalar() or 0)

    return scalar


def _kill_when(
    process: subprocess.Popen[bytes], ready: Callable[[], bool], rng: random.Random
) -> bool:
    """SIGKILL the import once ``ready`` holds; False if it finished before that."""
    helpers: list[psutil.Process] = []
    if not wait_until(lambda: process.poll() is not None or ready(), 120, 0.02):
        raise AssertionError("the import made no progress in 120 s")
    if process.poll() is not None:
        return False
    time.sleep(rng.uniform(0, 0.2))
    with contextlib.suppress(psutil.Error):
        helpers = psutil.Process(process.pid).children(recursive=True)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    # Its helper process (services/import_ahead.py) must not outlive it, waiting for
    # work that never comes.
    _gone, alive = psutil.wait_procs(helpers, timeout=15)
    assert not alive, f"left running after the import was killed: {alive}"
    return True


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/aliasdesk.db"
    _name, url = request.getfixturevalue("postgres_db")
    assert isinstance(url, str)
    return url


def test_an_import_killed_midway_and_run_again_takes_every_mail_once(
    tmp_path: Path, database_url: str
) -> None:
    seed = int(os.environ.get("ALIASDESK_KILL_SEED", str(time.time_ns() % 1_000_000)))
    rng = random.Random(seed)
    archive = _archive(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALIASDESK_")}
    env.update(ALIASDESK_DATABASE_URL=database_url, ALIASDESK_ROUTING_FILE=str(ROUTING))
    migrate(env)
    count = _query(database_url)
    settled = "SELECT count(*) FROM inbound_mail WHERE state <> 'received'"
    moments: list[Callable[[], bool]] = [
        lambda: count("SELECT count(*) FROM inbound_mail") > 0,
        lambda: count(settled) >= TOTAL // 3,
        lambda: count(settled) >= 2 * TOTAL // 3,
        lambda: count("SELECT count(*) FROM jobs WHERE state = 'done'") > 0,
    ]
    kills = 0
    for ready in moments:
        process = subprocess.Popen(
            [ALIASDESK, "import", str(archive), "--no-mail"],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        kills += _kill_when(process, ready, rng)
    assert kills >= 2, f"seed {seed}: the import finished before it could be killed twice"
    last = subprocess.run(
        [ALIASDESK, "import", str(archive), "--no-mail"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert last.returncode == 0, last.stderr[-3000:]
    _audit(count, seed)


def _audit(count: Callable[[str], int], seed: int) -> None:
    """Every mail once, every request one assigned ticket, every follow-up on its ticket."""
    assert count("SELECT count(*) FROM inbound_mail") == TOTAL, f"seed {seed}"
    assert count("SELECT count(DISTINCT content_hash) FROM inbound_mail") == TOTAL
    assert count("SELECT count(*) FROM inbound_mail WHERE state = 'received'") == 0
    assert count("SELECT count(*) FROM inbound_mail WHERE outcome = 'duplicate'") == COPIES
    assert count("SELECT count(*) FROM inbound_mail WHERE outcome = 'update_ticket'") == (
        FOLLOW_UPS
    )
    quarantined = (
        "SELECT count(*) FROM inbound_mail JOIN inbound_raw USING (id) WHERE state = 'quarantined'"
    )
    assert count(quarantined + " AND length(raw) = " + str(len(UNREADABLE))) == 1
    assert count("SELECT count(*) FROM tickets") == REQUESTS
    assert count("SELECT count(*) FROM tickets WHERE owner IS NULL OR NOT assigned") == 0
    # one message per request and per follow-up, each filed once, the follow-up on its own
    # request's ticket
    assert count("SELECT count(*) FROM messages") == REQUESTS + FOLLOW_UPS
    assert count("SELECT count(DISTINCT inbound_id) FROM messages") == REQUESTS + FOLLOW_UPS
    misfiled = (
        "SELECT count(*) FROM messages m JOIN tickets t ON t.id = m.ticket_id "
        "WHERE m.subject LIKE 'Re: Request %' AND t.subject <> substr(m.subject, 5)"
    )
    assert count(misfiled) == 0
    assert count("SELECT count(*) FROM jobs WHERE state <> 'done'") == 0
    assert count("SELECT count(*) FROM deliveries WHERE state = 'sent'") == 0
