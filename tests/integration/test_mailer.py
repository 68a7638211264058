"""SmtpMailer and SyncSmtpMailer against a real, scripted aiosmtpd server."""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
import threading
from collections.abc import Iterator
from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest

from aliasdesk.mail.compose import compose, make_message_id
from aliasdesk.notify.mailer import (
    PartialDeliveryError,
    PermanentDeliveryError,
    SmtpMailer,
    SmtpSetupError,
    SyncSmtpMailer,
    TransientDeliveryError,
)
from tests.support.smtp_script import DROP, STALL, ScriptedSmtpServer

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
