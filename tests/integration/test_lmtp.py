"""LMTP intake against a real server and a real database (SQLite and PostgreSQL): the
bytes are committed before each recipient's 250, envelope recipients route like
Delivered-To, and the same mail over IMAP and LMTP opens one ticket and one acknowledgement.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from email.utils import make_msgid

import psycopg
import pytest
from sqlalchemy import make_url, select

from aliasdesk.db.models import InboundMail, InboundRaw
from aliasdesk.relay import inline_dispatch, relay_forever
from aliasdesk.runtime import Runtime
from aliasdesk.services.intake import FINAL_STATES
from aliasdesk.services.reports import list_mail, list_tickets
from gateway.lmtp import LmtpServer, envelope_header, plain_address
from gateway.local_servers import SmtpSink
from tests.support.backends import PG_ADMIN
from tests.support.harness import build_mail, feed, runtime_for
from tests.support.lmtp_client import lmtp_deliver
from tests.support.services import free_port

REQUESTER = "dave@example.com"


@dataclass
class Desk:
    runtime: Runtime
    sink: SmtpSink
    port: int

    def tickets(self) -> list[dict[str, object]]:
        with self.runtime.db.reader() as session:
            return list_tickets(session, None, None, limit=100)

    def mail_log(self) -> list[dict[str, object]]:
        with self.runtime.db.reader() as session:
            return list_mail(session, 100)

    def acknowledgements(self) -> list[object]:
        return [m for m in self.sink.messages if REQUESTER in m.rcpt_tos]

    def settled(self, count: int, timeout: float = 20.0) -> bool:
        """Wait until ``count`` mails are processed (in a final state)."""
        done = threading.Event()
        for _ in range(int(timeout / 0.1)):
            with self.runtime.db.reader() as session:
                states = session.scalars(select(InboundMail.state)).all()
            if sum(1 for state in states if state in FINAL_STATES) >= count:
                return True
            done.wait(0.1)
        return False


@pytest.fixture
def desk(database_url: str, smtp_sink: SmtpSink) -> Iterator[Desk]:
    """``aliasdesk lmtp`` in this process: the server, its processing and the relay."""
    runtime = runtime_for(database_url, smtp_sink.port, outside_mail_per_minute=0)
    stop, wake = threading.Event(), threading.Event()
    relay = threading.Thread(
        target=relay_forever,
        args=(runtime, inline_dispatch(runtime), stop),
        kwargs={"wake": wake},
        daemon=True,
    )
    relay.start()
    port = free_port()
    try:
        with LmtpServer(runtime, port, after_processing=wake.set):
            yield Desk(runtime, smtp_sink, port)
    finally:
        stop.set()
        wake.set()
        relay.join(timeout=10)
        runtime.close()


def test_envelope_lines_are_written_on_top_and_unsafe_addresses_refused() -> None:
    assert envelope_header("<>", ["hr@example.com"]) == (
        b"Return-Path: <>\r\nDelivered-To: hr@example.com\r\n"
    )
    assert envelope_header("dave@example.com", ["a@x.org", "b@x.org"]).count(b"Delivered-To") == 2
    assert plain_address("hr@example.com")
    for bad in ("hr@example.com\nBcc: x@evil.org", "a b@example.com", "<x>@y", "", "a" * 321):
        assert not plain_address(bad), bad


def test_every_recipient_is_answered_after_one_commit_and_routes_as_delivered_to(
    desk: Desk,
) -> None:
    """A Bcc to two aliases (neither in To or Cc): both departments get a ticket."""
    raw = build_mail(to="undisclosed-recipients:;", subject="Laptop for the new hire")
    handover = lmtp_deliver(desk.port, raw, ["hr@example.com", "it@example.com"])
    assert handover.codes == [250, 250], handover
    assert all("2.0.0" in text for _, text in handover.data)
    with desk.runtime.db.reader() as session:
        rows = session.execute(
            select(InboundMail.source, InboundRaw.raw).join(
                InboundRaw, InboundRaw.id == InboundMail.id
            )
        ).all()
    assert len(rows) == 1  # one mail, stored once for both recipients
    source, stored = rows[0]
    assert source == "lmtp"
    assert stored.endswith(raw)
    assert stored.startswith(
        b"Return-Path: <dave@example.com>\r\n"
        b"Delivered-To: hr@example.com\r\nDelivered-To: it@example.com\r\n"
    )
    assert desk.sink.wait_for(2, timeout=20)
    assert desk.settled(1)
    departments = sorted(str(t["department"]) for t in desk.tickets())
    assert departments == ["HR", "IT"]
    assert desk.sink.wait_for(4, timeout=20)  # two acknowledgements, two owner notices
    assert len(desk.acknowledgements()) == 2


@pytest.mark.parametrize("first", ["lmtp", "imap"])
def test_the_same_mail_over_imap_and_lmtp_opens_one_ticket(desk: Desk, first: str) -> None:
    raw = build_mail(message_id=make_msgid(domain="example.com"))
    for way in (first, "imap" if first == "lmtp" else "lmtp"):
        if way == "lmtp":
            assert lmtp_deliver(desk.port, raw, ["hr@example.com"]).codes == [250]
        else:
            feed(desk.runtime, b"Delivered-To: hr@example.com\r\n" + raw)
    assert desk.settled(2)
    outcomes = sorted(str(row["outcome"]) for row in desk.mail_log())
    assert outcomes == ["duplicate", "new_ticket"]
    assert len(desk.tickets()) == 1
    desk.sink.wait_for(2, timeout=20)
    threading.Event().wait(1.0)  # anything doubled would have been sent by now
    assert len(desk.acknowledgements()) == 1


def test_our_own_mail_coming_back_is_ignored_not_answered(desk: Desk) -> None:
    raw = build_mail(headers={"X-Aliasdesk-Loop": "aliasdesk", "Auto-Submitted": "auto-replied"})
    assert lmtp_deliver(desk.port, raw, ["hr@example.com"]).codes == [250]
    assert desk.settled(1)
    assert [row["outcome"] for row in desk.mail_log()] == ["ignored"]
    assert desk.tickets() == []


def test_mail_over_the_size_limit_is_refused_for_every_recipient(
    sqlite_url: str, smtp_sink: SmtpSink
) -> None:
    runtime = runtime_for(sqlite_url, smtp_sink.port, max_mail_bytes=64 * 1024)
    port = free_port()
    try:
        with LmtpServer(runtime, port):
            big = build_mail(body="x" * 70 + ("\n" + "y" * 70) * 1000)
            handover = lmtp_deliver(port, big, ["hr@example.com", "it@example.com"])
            assert handover.codes == [552, 552], handover
            small = build_mail()
            assert lmtp_deliver(port, small, ["hr@example.com"]).codes == [250]
        with runtime.db.reader() as session:
            sizes = session.scalars(select(InboundMail.size)).all()
        assert len(sizes) == 1 and sizes[0] < 64 * 1024
    finally:
        runtime.close()


def test_a_database_that_is_down_gets_451_and_the_retry_is_taken(
    postgres_url: str, smtp_sink: SmtpSink
) -> None:
    """The MTA keeps a mail answered 451 and sends it again: taken once, when it is back."""
    name = make_url(postgres_url).database
    runtime = runtime_for(postgres_url, smtp_sink.port)
    port = free_port()
    raw = build_mail()
    try:
        with LmtpServer(runtime, port), psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (name,),
            )
            refused = lmtp_deliver(port, raw, ["hr@example.com", "it@example.com"])
            assert refused.codes == [451, 451], refused
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
            assert lmtp_deliver(port, raw, ["hr@example.com", "it@example.com"]).codes == [
                250,
                250,
            ]
        with runtime.db.reader() as session:
            assert len(session.scalars(select(InboundMail.id)).all()) == 1
    finally:
        runtime.close()


def test_a_refusal_before_the_354_is_one_reply_not_one_per_recipient(desk: Desk) -> None:
    with socket.create_connection(("127.0.0.1", desk.port), timeout=10) as sock:
        reader = sock.makefile("rb")

        def ask(command: bytes) -> bytes:
            sock.sendall(command + b"\r\n")
            while (line := reader.readline())[3:4] == b"-":
                pass
            return line

        assert reader.readline().startswith(b"220")
        assert ask(b"LHLO mta.example.com").startswith(b"250")
        assert ask(b"MAIL FROM:<dave@example.com>").startswith(b"250")
        assert ask(b"RCPT TO:<hr@example.com>").startswith(b"250")
        assert ask(b"RCPT TO:<it@example.com>").startswith(b"250")
        assert ask(b"DATA now").startswith(b"501")
        assert ask(b"NOOP").startswith(b"250")  # not a second 501 left over
