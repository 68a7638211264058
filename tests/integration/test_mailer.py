"""SmtpMailer and SyncSmtpMailer against a real, scripted aiosmtpd server."""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session

from aliasdesk.mail.compose import compose, make_message_id
from aliasdesk.notify.mailer import (
    DeliveryError,
    PartialDeliveryError,
    PermanentDeliveryError,
    SmtpMailer,
    SmtpSetupError,
    SyncSmtpMailer,
    TransientDeliveryError,
)
from tests.support.smtp_script import DROP, STALL, ScriptedHandler, ScriptedSmtpServer

SENDER = "hr@example.com"
REQUESTER = "dave@example.com"


def make_mail(n: int = 1, subject: str = "[HR-42] Parental leave") -> bytes:
    return compose(
        from_address=SENDER,
        from_name="Human Resources",
        to=[REQUESTER],
        subject=subject,
        text=f"Hello Dave,\n\nmail number {n}.\n.\nA line with a lone dot above.\n",
        html=f"<p>mail number {n}</p>",
        message_id=make_message_id(f"delivery-{n}", "example.com"),
        in_reply_to="<request@mail.example.com>",
        references=["<request@mail.example.com>"],
        auto_submitted="auto-replied",
        extra_headers={"X-Aliasdesk-Loop": "example.com"},
    )


def message_id(data: bytes) -> str:
    return str(BytesParser(policy=policy.SMTP).parsebytes(data)["Message-ID"])


@pytest.fixture
def server() -> Iterator[ScriptedSmtpServer]:
    with ScriptedSmtpServer() as running:
        yield running


@pytest.fixture
def mailer(server: ScriptedSmtpServer) -> Iterator[SyncSmtpMailer]:
    sync = SyncSmtpMailer(SmtpMailer("127.0.0.1", server.port, security="none", timeout=5))
    yield sync
    sync.close()


def test_delivers_identical_bytes(server: ScriptedSmtpServer, mailer: SyncSmtpMailer) -> None:
    message = make_mail()
    reply = mailer.send(SENDER, [REQUESTER], message)
    assert "Queued" in reply
    [received] = server.handler.received
    assert received.data == message
    assert received.mail_from == SENDER
    assert received.rcpt_tos == [REQUESTER]


@pytest.mark.parametrize("text", [".\n..\nFrom here\n.", "Grüße\n.\n..x\nFrom here\n."])
def test_dot_and_from_lines_arrive_unchanged(
    server: ScriptedSmtpServer, mailer: SyncSmtpMailer, text: str
) -> None:
    """The client dot-stuffs lines that start with "." (RFC 5321 §4.5.2), 7bit or not."""
    message = compose(
        from_address=SENDER, from_name="HR", to=[REQUESTER], subject="dots", text=text,
        html=None, message_id="<dots@example.com>", in_reply_to=None, references=[],
        auto_submitted="auto-replied",
    )  # fmt: skip
    mailer.send(SENDER, [REQUESTER], message)
    [received] = server.handler.received
    assert received.data == message
    body = BytesParser(policy=policy.default).parsebytes(received.data).get_content()
    assert body.replace("\r\n", "\n") == text + "\n"


def test_large_mail_and_lone_line_ends_arrive_as_aiosmtplib_sends_them(
    server: ScriptedSmtpServer, mailer: SyncSmtpMailer
) -> None:
    """Mail with CRLF line ends only is written as it is (dot-stuffed), a 100 KB file
    included; mail with a lone LF or CR still goes through aiosmtplib's normalising."""
    file = ("a.bin", "application/octet-stream", bytes(range(256)) * 400)
    attached = compose(
        from_address=SENDER, from_name="HR", to=[REQUESTER], subject="files", text=".\nx\n",
        html=None, message_id="<files@example.com>", in_reply_to=None, references=[],
        auto_submitted="auto-replied", attachments=[file],
    )  # fmt: skip
    ragged = b"Subject: ragged\r\n\r\nfirst\n.second\rthird\r\n"
    mailer.send(SENDER, [REQUESTER], attached)
    mailer.send(SENDER, [REQUESTER], ragged)
    first, second = server.handler.received
    assert first.data == attached
    assert second.data == b"Subject: ragged\r\n\r\nfirst\r\n.second\r\nthird\r\n"


def test_connection_reused_across_sends(server: ScriptedSmtpServer, mailer: SyncSmtpMailer) -> None:
    for n in range(3):
        mailer.send(SENDER, [REQUESTER], make_mail(n))
    assert len(server.handler.received) == 3
    assert server.handler.connections == 1
    assert mailer.connections_opened == 1


@pytest.mark.parametrize("stage", ["MAIL", "RCPT", "DATA"])
def test_451_is_transient(server: ScriptedSmtpServer, mailer: SyncSmtpMailer, stage: str) -> None:
    server.handler.fail_next(stage, "451 4.3.0 Try again later")
    with pytest.raises(TransientDeliveryError) as caught:
        mailer.send(SENDER, [REQUESTER], make_mail())
    assert caught.value.code == 451
    assert not isinstance(caught.value, PermanentDeliveryError)
    # The connection was reset, not poisoned: the next mail goes through on it.
    mailer.send(SENDER, [REQUESTER], make_mail(2))
    assert len(server.handler.received) == 1
    assert server.handler.connections == 1


@pytest.mark.parametrize("stage", ["RCPT", "DATA"])
def test_421_is_transient_and_reconnects(
    server: ScriptedSmtpServer, mailer: SyncSmtpMailer, stage: str
) -> None:
    server.handler.fail_next(stage, "421 4.3.2 Shutting down")
    with pytest.raises(TransientDeliveryError) as caught:
        mailer.send(SENDER, [REQUESTER], make_mail())
    assert caught.value.code == 421
    mailer.send(SENDER, [REQUESTER], make_mail(2))
    assert len(server.handler.received) == 1


@pytest.mark.parametrize("stage", ["RCPT", "DATA"])
def test_550_is_permanent(server: ScriptedSmtpServer, mailer: SyncSmtpMailer, stage: str) -> None:
    server.handler.fail_next(stage, "550 5.1.1 No such user")
    with pytest.raises(PermanentDeliveryError) as caught:
        mailer.send(SENDER, [REQUESTER], make_mail())
    assert caught.value.code == 550
    assert server.handler.received == []
    if stage == "RCPT":
        assert caught.value.refused == {REQUESTER: (550, "5.1.1 No such user")}


def test_partial_refusal_names_the_refused(
    server: ScriptedSmtpServer, mailer: SyncSmtpMailer
) -> None:
    server.handler.refuse["gone@example.com"] = "550 5.1.1 No such user"
    with pytest.raises(PartialDeliveryError) as caught:
        mailer.send(SENDER, [REQUESTER, "gone@example.com"], make_mail())
    assert caught.value.accepted == (REQUESTER,)
    assert set(caught.value.refused) == {"gone@example.com"}
    [received] = server.handler.received
    assert received.rcpt_tos == [REQUESTER]


def test_non_ascii_address_is_refused_before_sending(
    server: ScriptedSmtpServer, mailer: SyncSmtpMailer
) -> None:
    with pytest.raises(PermanentDeliveryError, match="not ASCII"):
        mailer.send(SENDER, ["jürgen@example.com"], make_mail())
    assert server.handler.commands == []


def test_mixed_refusal_of_all_is_transient(
    server: ScriptedSmtpServer, mailer: SyncSmtpMailer
) -> None:
    server.handler.refuse["gone@example.com"] = "550 5.1.1 No such user"
    server.handler.refuse["full@example.com"] = "452 4.2.2 Mailbox full"
    with pytest.raises(TransientDeliveryError) as caught:
        mailer.send(SENDER, ["gone@example.com", "full@example.com"], make_mail())
    assert set(caught.value.refused) == {"gone@example.com", "full@example.com"}


def test_drop_mid_data_is_transient_then_reconnects(
    server: ScriptedSmtpServer, mailer: SyncSmtpMailer
) -> None:
    mailer.send(SENDER, [REQUESTER], make_mail(1))
    server.handler.fail_next("DATA", DROP)
    with pytest.raises(TransientDeliveryError):
        mailer.send(SENDER, [REQUESTER], make_mail(2))
    mailer.send(SENDER, [REQUESTER], make_mail(3))
    ids = [message_id(r.data) for r in server.handler.received]
    assert ids == ["<delivery-1@example.com>", "<delivery-3@example.com>"]
    assert server.handler.connections == 2


def test_reconnects_when_the_server_closed_an_idle_connection(
    server: ScriptedSmtpServer, mailer: SyncSmtpMailer
) -> None:
    mailer.send(SENDER, [REQUESTER], make_mail(1))
    server.handler.fail_next("MAIL", DROP)  # looks like an idle timeout to the client
    mailer.send(SENDER, [REQUESTER], make_mail(2))
    assert len(server.handler.received) == 2
    assert server.handler.connections == 2


def test_timeout_is_transient_then_reconnects(server: ScriptedSmtpServer) -> None:
    with SyncSmtpMailer(SmtpMailer("127.0.0.1", server.port, security="none", timeout=0.5)) as m:
        server.handler.fail_next("DATA", STALL)
        with pytest.raises(TransientDeliveryError, match="timed out"):
            m.send(SENDER, [REQUESTER], make_mail(1))
        m.send(SENDER, [REQUESTER], make_mail(2))
    assert [message_id(r.data) for r in server.handler.received] == ["<delivery-2@example.com>"]
    assert server.handler.connections == 2


def test_sends_from_several_threads_share_one_connection(
    server: ScriptedSmtpServer, mailer: SyncSmtpMailer
) -> None:
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            mailer.send(SENDER, [REQUESTER], make_mail(n))
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert errors == []
    assert len(server.handler.received) == 6
    assert server.handler.connections == 1


def test_login_with_username_and_password() -> None:
    with ScriptedSmtpServer(credentials=("aliasdesk", "s3cret")) as auth_server:
        good = SmtpMailer(
            "127.0.0.1", auth_server.port, security="none", username="aliasdesk",
            password="s3cret", timeout=5,
        )  # fmt: skip
        with SyncSmtpMailer(good) as m:
            m.send(SENDER, [REQUESTER], make_mail())
        assert len(auth_server.handler.received) == 1
        assert "s3cret" not in repr(good)


def test_refused_login_is_a_setup_error() -> None:
    with ScriptedSmtpServer(credentials=("aliasdesk", "s3cret")) as auth_server:
        wrong = SmtpMailer(
            "127.0.0.1", auth_server.port, security="none", username="aliasdesk",
            password="wrong", timeout=5,
        )  # fmt: skip
        with SyncSmtpMailer(wrong) as m, pytest.raises(SmtpSetupError, match="login refused"):
            m.send(SENDER, [REQUESTER], make_mail())
        assert auth_server.handler.received == []


def test_send_after_close_is_refused(server: ScriptedSmtpServer) -> None:
    m = SyncSmtpMailer(SmtpMailer("127.0.0.1", server.port, security="none", timeout=5))
    m.close()
    m.close()
    with pytest.raises(RuntimeError, match="closed"):
        m.send(SENDER, [REQUESTER], make_mail())


def test_starttls_not_offered_is_an_error_and_nothing_is_sent(
    server: ScriptedSmtpServer,
) -> None:
    mailer = SmtpMailer("127.0.0.1", server.port, security="starttls", timeout=5)
    with SyncSmtpMailer(mailer) as m, pytest.raises(SmtpSetupError, match="STARTTLS"):
        m.send(SENDER, [REQUESTER], make_mail())
    assert server.handler.commands == []
    assert server.handler.received == []


def test_unreachable_server_is_transient() -> None:
    with ScriptedSmtpServer() as stopped:
        port = stopped.port
    mailer = SmtpMailer("127.0.0.1", port, security="none", timeout=2)
    with SyncSmtpMailer(mailer) as m, pytest.raises(TransientDeliveryError):
        m.send(SENDER, [REQUESTER], make_mail())


def test_async_mailer_reuses_its_connection(server: ScriptedSmtpServer) -> None:
    async def three_sends() -> None:
        mailer = SmtpMailer("127.0.0.1", server.port, security="none", timeout=5)
        try:
            for n in range(3):
                await mailer.send(SENDER, [REQUESTER], make_mail(n))
        finally:
            await mailer.close()

    asyncio.run(three_sends())
    assert server.handler.connections == 1
    assert len(server.handler.received) == 3


# --- send_many: a batch over a small pool of connections ---

DROP_MARK = b"drop-this-one"


@dataclass
class ObservingHandler(ScriptedHandler):
    """Holds each DATA a moment and records how many overlap, counts QUITs, and drops
    the connection instead of answering DATA for a mail that contains DROP_MARK."""

    hold: float = 0.0
    in_flight: int = 0
    most_in_flight: int = 0
    quits: int = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if DROP_MARK in (envelope.original_content or b""):
            return await self._answer(server, DROP)
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.hold)
            return await super().handle_DATA(server, session, envelope)
        finally:
            self.in_flight -= 1

    async def handle_QUIT(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.quits += 1
        return "221 Bye"


def pool(
    port: int,
    connections: int,
    *,
    timeout: float = 5,
    username: str | None = None,
    password: str | None = None,
) -> SyncSmtpMailer:
    mailer = SmtpMailer(
        "127.0.0.1", port, security="none", timeout=timeout, username=username, password=password
    )
    return SyncSmtpMailer(mailer, connections=connections)


def received_ids(server: ScriptedSmtpServer) -> Counter[str]:
    return Counter(message_id(r.data) for r in server.handler.received)


def test_batch_arrives_intact_once_each_over_at_most_n_connections() -> None:
    mails = {make_message_id(f"delivery-{n}", "example.com"): make_mail(n) for n in range(50)}
    with ScriptedSmtpServer(ObservingHandler(hold=0.01)) as server:
        with pool(server.port, connections=4) as m:
            results = m.send_many([(SENDER, [REQUESTER], data) for data in mails.values()])
            assert m.connections_opened == 4
        handler = server.handler
        assert isinstance(handler, ObservingHandler)
        assert len(results) == 50
        assert all(isinstance(r, str) and "Queued" in r for r in results)
        assert received_ids(server) == Counter(list(mails))  # every mail, each exactly once
        assert all(r.data == mails[message_id(r.data)] for r in handler.received)
        assert handler.connections == 4
        assert 1 < handler.most_in_flight <= 4  # concurrent, but never more than the pool
        assert handler.quits == 4  # close() said QUIT on every connection


def test_batch_results_follow_the_input_with_refusals_per_mail(
    server: ScriptedSmtpServer,
) -> None:
    items: list[tuple[str, list[str], bytes]] = []
    for n in range(40):
        if n % 5 == 0:
            recipient = f"gone{n}@example.com"
            server.handler.refuse[recipient] = "550 5.1.1 No such user"
        elif n % 7 == 0:
            recipient = f"full{n}@example.com"
            server.handler.refuse[recipient] = "451 4.2.2 Mailbox full, try later"
        else:
            recipient = REQUESTER
        items.append((SENDER, [recipient], make_mail(n)))
    items.append((SENDER, [REQUESTER, "gone0@example.com"], make_mail(40)))
    with pool(server.port, connections=3) as m:
        results = m.send_many(items)
    for n, result in enumerate(results[:40]):
        if n % 5 == 0:
            assert isinstance(result, PermanentDeliveryError) and result.code == 550, n
        elif n % 7 == 0:
            assert isinstance(result, TransientDeliveryError) and result.code == 451, n
        else:
            assert isinstance(result, str), (n, result)
    assert isinstance(results[40], PartialDeliveryError)
    assert results[40].accepted == (REQUESTER,)
    sent = [n for n, r in enumerate(results[:40]) if isinstance(r, str)]
    expected = [make_message_id(f"delivery-{n}", "example.com") for n in [*sent, 40]]
    assert received_ids(server) == Counter(expected)


def test_dropped_connection_fails_only_the_mails_in_flight() -> None:
    dropped = {5, 11, 12}
    mails = [
        make_mail(n, subject=f"[HR-42] {DROP_MARK.decode()}" if n in dropped else "[HR-42] Leave")
        for n in range(30)
    ]
    with ScriptedSmtpServer(ObservingHandler()) as server:
        with pool(server.port, connections=3) as m:
            results = m.send_many([(SENDER, [REQUESTER], data) for data in mails])
            opened = m.connections_opened
        failed = {n for n, r in enumerate(results) if isinstance(r, DeliveryError)}
        assert failed == dropped
        assert all(isinstance(results[n], TransientDeliveryError) for n in dropped)
        # Success reported exactly for what the server took, and nothing arrived twice.
        expected = [make_message_id(f"delivery-{n}", "example.com") for n in range(30)]
        assert received_ids(server) == Counter(e for n, e in enumerate(expected) if n not in failed)
        assert opened == server.handler.connections
        assert opened <= 3 + len(dropped)  # at most one reconnect for each drop


def test_stale_pool_connections_reconnect_between_batches(server: ScriptedSmtpServer) -> None:
    with pool(server.port, connections=2) as m:
        first = m.send_many([(SENDER, [REQUESTER], make_mail(n)) for n in range(6)])
        server.handler.fail_next("MAIL", DROP)  # as if one idle connection had timed out
        second = m.send_many([(SENDER, [REQUESTER], make_mail(n)) for n in range(6, 12)])
    assert all(isinstance(r, str) for r in [*first, *second])
    assert sorted(received_ids(server).values()) == [1] * 12
    assert server.handler.connections == 3


def test_pool_is_reused_across_calls_and_send_uses_its_first_connection(
    server: ScriptedSmtpServer,
) -> None:
    with pool(server.port, connections=3) as m:
        m.send(SENDER, [REQUESTER], make_mail(0))
        assert m.connections_opened == 1
        m.send_many([(SENDER, [REQUESTER], make_mail(1))])
        assert m.connections_opened == 1  # a batch of one needs no second connection
        for start in (2, 12):
            m.send_many([(SENDER, [REQUESTER], make_mail(n)) for n in range(start, start + 10)])
        assert m.connections_opened == 3
        assert m.send_many([]) == []
    assert len(server.handler.received) == 22
    assert server.handler.connections == 3


def test_batches_and_sends_from_several_threads(server: ScriptedSmtpServer) -> None:
    errors: list[BaseException] = []
    outcomes: list[str | DeliveryError] = []

    with pool(server.port, connections=3) as m:

        def batch(first: int) -> None:
            try:
                items = [(SENDER, [REQUESTER], make_mail(n)) for n in range(first, first + 10)]
                outcomes.extend(m.send_many(items))
                outcomes.append(m.send(SENDER, [REQUESTER], make_mail(first + 10)))
            except BaseException as e:  # pragma: no cover - reported below
                errors.append(e)

        threads = [threading.Thread(target=batch, args=(n * 100,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(20)
        assert m.connections_opened <= 3
    assert errors == []
    assert len(outcomes) == 44 and all(isinstance(r, str) for r in outcomes)
    assert sorted(received_ids(server).values()) == [1] * 44
    assert server.handler.connections <= 3


def test_bad_items_fail_alone(server: ScriptedSmtpServer) -> None:
    with pool(server.port, connections=2) as m:
        results = m.send_many(
            [
                (SENDER, [REQUESTER], make_mail(1)),
                (SENDER, [], make_mail(2)),
                (SENDER, ["jürgen@example.com"], make_mail(3)),
                (SENDER, [REQUESTER], make_mail(4)),
            ]
        )
    assert isinstance(results[0], str) and isinstance(results[3], str)
    assert isinstance(results[1], TransientDeliveryError)
    assert "ValueError: no recipients" in str(results[1])
    assert isinstance(results[2], PermanentDeliveryError) and "not ASCII" in str(results[2])
    assert sorted(received_ids(server)) == ["<delivery-1@example.com>", "<delivery-4@example.com>"]


def test_refused_login_fails_the_whole_batch_without_sending() -> None:
    with ScriptedSmtpServer(credentials=("aliasdesk", "s3cret")) as auth_server:
        with pool(auth_server.port, 3, username="aliasdesk", password="wrong") as m:
            results = m.send_many([(SENDER, [REQUESTER], make_mail(n)) for n in range(20)])
        assert all(isinstance(r, SmtpSetupError) for r in results)
        assert "login refused" in str(results[0])
        assert auth_server.handler.commands == []
        assert auth_server.handler.connections <= 3  # one attempt per connection, not per mail


def test_unreachable_server_fails_every_mail_transiently() -> None:
    with ScriptedSmtpServer() as stopped:
        port = stopped.port
    with pool(port, connections=4, timeout=2) as m:
        results = m.send_many([(SENDER, [REQUESTER], make_mail(n)) for n in range(10)])
    assert len(results) == 10
    assert all(isinstance(r, TransientDeliveryError) for r in results)


def test_send_many_after_close_is_refused_and_the_pool_size_is_checked(
    server: ScriptedSmtpServer,
) -> None:
    m = pool(server.port, connections=2)
    m.close()
    with pytest.raises(RuntimeError, match="closed"):
        m.send_many([(SENDER, [REQUESTER], make_mail())])
    with pytest.raises(ValueError, match="at least 1"):
        pool(server.port, connections=0)


# --- TLS: a throw-away self-signed certificate made with the openssl command ---


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def _contexts(certificate: tuple[Path, Path]) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    cert, key = certificate
    server_side = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_side.load_cert_chain(cert, key)
    client_side = ssl.create_default_context(cafile=str(cert))
    return server_side, client_side


def test_starttls_delivers_encrypted(certificate: tuple[Path, Path]) -> None:
    server_side, client_side = _contexts(certificate)
    with ScriptedSmtpServer(tls_context=server_side) as tls_server:
        mailer = SmtpMailer(
            "127.0.0.1", tls_server.port, security="starttls", tls_context=client_side, timeout=5
        )
        with SyncSmtpMailer(mailer) as m:
            m.send(SENDER, [REQUESTER], make_mail())
        [received] = tls_server.handler.received
        assert received.tls


def test_implicit_tls_delivers_encrypted(certificate: tuple[Path, Path]) -> None:
    server_side, client_side = _contexts(certificate)
    with ScriptedSmtpServer(implicit_tls=server_side) as tls_server:
        mailer = SmtpMailer(
            "127.0.0.1", tls_server.port, security="ssl", tls_context=client_side, timeout=5
        )
        with SyncSmtpMailer(mailer) as m:
            m.send(SENDER, [REQUESTER], make_mail())
        assert len(tls_server.handler.received) == 1


def test_untrusted_certificate_is_refused_not_downgraded(certificate: tuple[Path, Path]) -> None:
    server_side, _ = _contexts(certificate)
    with ScriptedSmtpServer(tls_context=server_side) as tls_server:
        mailer = SmtpMailer("127.0.0.1", tls_server.port, security="starttls", timeout=5)
        with SyncSmtpMailer(mailer) as m, pytest.raises(SmtpSetupError):
            m.send(SENDER, [REQUESTER], make_mail())
        assert tls_server.handler.received == []
        assert not any(c.startswith("MAIL") for c in tls_server.handler.commands)
