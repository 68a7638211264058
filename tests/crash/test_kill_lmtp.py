"""``aliasdesk lmtp`` killed with SIGKILL while an MTA hands mail over: during DATA, and
just after the 250. The MTA's side is played by the test as Postfix behaves: a mail whose
answer never came is sent again, whole, once the server is back. Afterwards every mail
that was ever answered 250 has exactly one ticket and one acknowledgement (a resend after a
crash carries the same Message-ID), and a mail sent twice is logged once as a duplicate.

On SQLite with the embedded broker, and PostgreSQL with Redis (plus an ``aliasdesk worker``).
"""

from __future__ import annotations

import os
import random
import socket
import time
from collections import defaultdict
from email.parser import BytesHeaderParser
from email.utils import make_msgid
from pathlib import Path

from sqlalchemy import create_engine, text

from gateway.local_servers import SmtpSink
from tests.crash.conftest import Backends
from tests.crash.procs import FAST_TIMERS, AliasdeskProcess, migrate, wait_until
from tests.support.backends import broker_env
from tests.support.harness import ROUTING, build_mail
from tests.support.lmtp_client import lmtp_deliver
from tests.support.services import free_port, port_open

MAILS = 24
ALIASES = ["hr@example.com", "it@example.com", "facilities@example.com"]


def _env(backends: Backends, sink: SmtpSink, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALIASDESK_")}
    env.update(FAST_TIMERS)
    env.update(
        ALIASDESK_DATABASE_URL=backends.database_url,
        ALIASDESK_BROKER_URL=backends.broker_url,
        ALIASDESK_ROUTING_FILE=str(ROUTING),
        ALIASDESK_SMTP_HOST=sink.host,
        ALIASDESK_SMTP_PORT=str(sink.port),
        ALIASDESK_SMTP_SECURITY="none",
        ALIASDESK_LMTP_PORT=str(port),
    )
    env.update(broker_env(backends.broker_url))
    return env


def _up(process: AliasdeskProcess, port: int) -> None:
    if not process.alive:
        process.start()
    assert wait_until(lambda: port_open("127.0.0.1", port), 60, 0.05), process.log_tail()


def _cut_during_data(port: int, raw: bytes, process: AliasdeskProcess) -> None:
    """LHLO, MAIL, RCPT, DATA and half the mail; then the server dies under the client."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        reader = sock.makefile("rb")
        assert reader.readline().startswith(b"220")
        for command in (b"LHLO mta.example.com", b"MAIL FROM:<dave@example.com>"):
            sock.sendall(command + b"\r\n")
            while (line := reader.readline())[3:4] == b"-":
                pass
            assert line.startswith(b"250"), line
        sock.sendall(b"RCPT TO:<hr@example.com>\r\n")
        assert reader.readline().startswith(b"250")
        sock.sendall(b"DATA\r\n")
        assert reader.readline().startswith(b"354")
        sock.sendall(raw[: len(raw) // 2])
        time.sleep(0.2)
        process.kill()
        assert not reader.readline().startswith(b"250")  # never answered: the MTA keeps it


def _hand_over_with_kills(port: int, process: AliasdeskProcess, mails: list[bytes]) -> int:
    """Deliver each mail until it is answered 250, killing the server right after some
    250s (and once mid-DATA); a mail is resent whole when its answer was lost."""
    rng = random.Random(20)
    kills = 0
    for n, raw in enumerate(mails):
        if n == 3:
            _cut_during_data(port, raw, process)
            kills += 1
            _up(process, port)
        recipients = rng.sample(ALIASES, rng.choice([1, 1, 2]))
        handover = lmtp_deliver(port, raw, recipients)
        assert handover.codes == [250] * len(recipients), handover
        if n % 5 == 4:
            process.kill()  # just after the 250: stored, maybe not processed or answered
            kills += 1
            _up(process, port)
            # The MTA may not have read that 250 before the connection died: it sends again.
            assert lmtp_deliver(port, raw, recipients).codes == [250] * len(recipients)
    return kills


def _audit(database_url: str, sink: SmtpSink, message_ids: list[str]) -> None:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text("SELECT message_id, state, outcome FROM inbound_mail")
            ).all()
            tickets = connection.execute(text("SELECT count(*) FROM tickets")).scalar_one()
    finally:
        engine.dispose()
    taken = defaultdict(list)
    for message_id, state, outcome in rows:
        assert state != "received", "a stored mail was never processed"
        taken[message_id].append(outcome)
    for message_id in message_ids:
        outcomes = sorted(taken[message_id])
        assert outcomes.count("new_ticket") == 1, (message_id, outcomes)
        assert set(outcomes) <= {"new_ticket", "duplicate"}, (message_id, outcomes)
    acks: dict[str, set[str]] = defaultdict(set)
    for mail in sink.messages:
        head = BytesHeaderParser().parsebytes(mail.data)
        if head.get("Auto-Submitted") == "auto-replied":
            acks[str(head["In-Reply-To"])].add(str(head["Message-ID"]))
    # A mail to two departments opens a ticket (and an acknowledgement) in each.
    assert tickets >= len(message_ids)
    for message_id in message_ids:
        assert 1 <= len(acks[message_id]) <= 2, (message_id, acks[message_id])
    assert sum(len(ids) for ids in acks.values()) == tickets


def test_kill_during_data_and_after_the_250_loses_and_doubles_nothing(
    backends: Backends, log_dir: Path
) -> None:
    port = free_port()
    with SmtpSink() as sink:
        env = _env(backends, sink, port)
        migrate(env)
        lmtp = AliasdeskProcess("lmtp", env, log_dir)
        worker = None
        if backends.broker_url != "embedded":
            worker = AliasdeskProcess("worker", env, log_dir)
            worker.start()
        message_ids = [make_msgid(domain="example.com") for _ in range(MAILS)]
        mails = [
            build_mail(
                sender=f"Requester {n} <dave{n}@example.com>",
                to="undisclosed-recipients:;",
                subject=f"Request {n}",
                message_id=message_ids[n],
            )
            for n in range(MAILS)
        ]
        try:
            _up(lmtp, port)
            kills = _hand_over_with_kills(port, lmtp, mails)
            assert kills >= 5
            assert wait_until(
                lambda: backends.progress.settled(len(mails)) and backends.progress.unsent() == 0,
                90,
            ), lmtp.log_tail()
        finally:
            lmtp.stop()
            if worker is not None:
                worker.stop()
        _audit(backends.database_url, sink, message_ids)
