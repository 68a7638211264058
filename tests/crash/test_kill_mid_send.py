"""A worker killed (SIGKILL) while the SMTP server is still taking its mail: the next
worker sends the very same mail, and the delivery ends up sent exactly once.

Both workers are real ``aliasdesk worker`` processes on the embedded broker and one SQLite
file; the SMTP server stalls the first DATA so the kill lands mid-send, after the claim
was committed (STYLE.md, the crash story, step 5).
"""

from __future__ import annotations

import email
import email.policy
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from aliasdesk.db.models import Delivery, Job, TicketMessage
from aliasdesk.runtime import Runtime
from aliasdesk.services.delivery import LEASE_VARIABLE, RETRY_BASE_VARIABLE
from tests.support.harness import ROUTING, build_mail, feed, runtime_for
from tests.support.smtp_script import STALL, ScriptedSmtpServer

ALIASDESK_SCRIPT = Path(sys.executable).with_name("aliasdesk")
LEASE_SECONDS = 2


def _wait_for(what: str, check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def runtime(sqlite_url: str, smtp: ScriptedSmtpServer) -> Iterator[Runtime]:
    rt = runtime_for(sqlite_url, smtp.port)
    yield rt
    rt.close()


def _start_worker(runtime: Runtime, port: int, workdir: Path, name: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALIASDESK_")}
    env.update(
        ALIASDESK_DATABASE_URL=runtime.db.url,
        ALIASDESK_BROKER_URL="embedded",
        ALIASDESK_ROUTING_FILE=str(ROUTING),
        ALIASDESK_SMTP_HOST="127.0.0.1",
        ALIASDESK_SMTP_PORT=str(port),
        ALIASDESK_SMTP_SECURITY="none",
        **{LEASE_VARIABLE: str(LEASE_SECONDS), RETRY_BASE_VARIABLE: "0.05"},
    )
    log = (workdir / f"{name}.log").open("wb")
    return subprocess.Popen(
        [str(ALIASDESK_SCRIPT), "worker"],
        cwd=workdir,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def _deliveries(runtime: Runtime) -> list[Delivery]:
    with runtime.db.reader() as session:
        return list(session.scalars(select(Delivery).order_by(Delivery.id)))


def test_a_send_killed_mid_data_is_sent_again_as_the_same_mail(
    runtime: Runtime, smtp: ScriptedSmtpServer, tmp_path: Path
) -> None:
    started = time.monotonic()
    smtp.handler.fail_next("DATA", STALL)
    feed(runtime, build_mail())
    first = _start_worker(runtime, smtp.port, tmp_path, "first")
    try:
        _wait_for("the first DATA", lambda: "DATA" in smtp.handler.commands, timeout=15)
        # A batch claims every delivery at once and builds its bytes before sending.
        claimed = [d for d in _deliveries(runtime) if d.state == "sending"]
        assert len(claimed) == 2, "the worker did not claim the whole batch"
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    assert first.returncode == -signal.SIGKILL
    assert all(d.rendered is not None for d in claimed)
    # The batch's mails go out side by side: the one in the stalled DATA never arrived,
    # the other one may have (accepted, but its worker died before recording it).
    before_kill = {r.rcpt_tos[0]: r.data for r in smtp.handler.received}
    [in_flight] = [d for d in claimed if d.recipient not in before_kill]
    for delivery in claimed:
        if delivery.recipient in before_kill:
            assert before_kill[delivery.recipient] == delivery.rendered

    # The dead worker's jobs stay "published" for the relay's publish lease (minutes);
    # age them rather than wait, as a relay would find them after that lease.
    with runtime.db.unit_of_work() as session:
        session.execute(
            update(Job)
            .where(Job.state == "published")
            .values(published_at=datetime.now(UTC) - timedelta(hours=1))
        )
    second = _start_worker(runtime, smtp.port, tmp_path, "second")
    try:
        _wait_for(
            "every delivery sent",
            lambda: {d.state for d in _deliveries(runtime)} == {"sent"},
            timeout=15,
        )
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(10)

    for delivery in claimed:
        # Any repeat is the very same mail: same bytes, same Message-ID.
        copies = [r.data for r in smtp.handler.received if delivery.recipient in r.rcpt_tos]
        assert copies and all(copy == delivery.rendered for copy in copies)
        ids = {
            email.message_from_bytes(c, policy=email.policy.default)["Message-ID"] for c in copies
        }
        assert ids == {delivery.message_id}
        expected = 1 if delivery is in_flight else 1 + (delivery.recipient in before_kill)
        assert len(copies) == expected
    with runtime.db.reader() as session:
        for delivery in claimed:
            row = session.get(Delivery, delivery.id)
            assert row is not None and row.state == "sent" and row.attempts == 2
            assert row.claimed_at is not None and row.claimed_at > delivery.claimed_at  # type: ignore[operator]
            recorded = session.scalars(
                select(TicketMessage).where(TicketMessage.delivery_id == delivery.id)
            ).all()
            assert len(recorded) == 1
        assert set(session.scalars(select(Job.state))) == {"done"}
    assert time.monotonic() - started < 30
