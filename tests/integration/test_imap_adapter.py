"""gateway.imap against real servers (pymap and Dovecot)."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Iterator

import pytest
from imapclient import IMAPClient

from gateway.imap import (
    DONE_KEYWORD,
    ImapAuthError,
    ImapConfig,
    ImapConnectionError,
    ImapMailbox,
    ImapSecurityError,
    Security,
)
from tests.support.dovecot import DovecotServer
from tests.support.servers import ImapTestServer, imap_config_for


def mail(n: int) -> bytes:
    return (
        f"From: requester{n}@example.com\r\nTo: hr@example.com\r\n"
        f"Subject: request {n}\r\nMessage-ID: <req-{n}@example.com>\r\n\r\nPlease help ({n}).\r\n"
    ).encode()


def flags_of(server: ImapTestServer, folder: str = "INBOX") -> dict[int, set[bytes]]:
    client = IMAPClient(server.host, server.port, ssl=False, timeout=10)
    client.login(server.username, server.password)
    try:
        client.select_folder(folder, readonly=True)
        return {
            uid: set(data[b"FLAGS"])
            for uid, data in client.fetch(client.search(["ALL"]), ["FLAGS"]).items()
        }
    finally:
        client.logout()


@pytest.fixture
def mailbox(imap_server: ImapTestServer) -> Iterator[ImapMailbox]:
    box = ImapMailbox(imap_config_for(imap_server))
    yield box
    box.close()


def test_connect_returns_uidvalidity(mailbox: ImapMailbox) -> None:
    uidvalidity = mailbox.connect()
    assert uidvalidity > 0
    assert mailbox.uidvalidity == uidvalidity
    assert mailbox.has_idle()


def test_fetch_peeks_and_leaves_mail_unseen(
    imap_server: ImapTestServer, mailbox: ImapMailbox
) -> None:
    imap_server.append_many([mail(1), mail(2)])
    mailbox.connect()
    uids = mailbox.uids_after(0)
    assert len(uids) == 2
    fetched = mailbox.fetch(uids)
    assert [m.uid for m in fetched] == uids
    assert fetched[0].raw.replace(b"\r\n", b"\n") == mail(1).replace(b"\r\n", b"\n")
    assert all(b"\\Seen" not in flags for flags in flags_of(imap_server).values())


def test_uids_after_filters_the_star_quirk(
    imap_server: ImapTestServer, mailbox: ImapMailbox
) -> None:
    imap_server.append_many([mail(1), mail(2), mail(3)])
    mailbox.connect()
    uids = mailbox.uids_after(0)
    assert mailbox.uids_after(uids[0]) == uids[1:]
    # "N:*" with N above the highest UID still matches the highest one (RFC 3501).
    assert mailbox.uids_after(uids[-1]) == []
    assert mailbox.uids_after(uids[-1] + 1000) == []


def test_fetch_skips_uids_that_do_not_exist(
    imap_server: ImapTestServer, mailbox: ImapMailbox
) -> None:
    imap_server.append(mail(1))
    mailbox.connect()
    (uid,) = mailbox.uids_after(0)
    assert [m.uid for m in mailbox.fetch([uid, uid + 50])] == [uid]


def test_mark_processed_excludes_from_unflagged(
    imap_server: ImapTestServer, mailbox: ImapMailbox
) -> None:
    imap_server.append_many([mail(n) for n in range(5)])
    mailbox.connect()
    uids = mailbox.unflagged_uids()
    assert len(uids) == 5
    mailbox.mark_processed(uids[:3])
    assert mailbox.unflagged_uids() == uids[3:]
    # A new session sees the same: the mark is durable on the server.
    mailbox.connect()
    assert mailbox.unflagged_uids() == uids[3:]


def test_keyword_used_where_allowed_and_seen_left_alone(dovecot_server: DovecotServer) -> None:
    dovecot_server.append_many([mail(1), mail(2)])
    with ImapMailbox(imap_config_for(dovecot_server)) as box:
        uids = box.unflagged_uids()
        box.mark_processed(uids[:1])
    flags = flags_of(dovecot_server)
    assert flags[uids[0]] == {DONE_KEYWORD.encode()}
    assert flags[uids[1]] == set()


def test_move_to_processed_folder(imap_server: ImapTestServer) -> None:
    imap_server.append_many([mail(n) for n in range(4)])
    config = imap_config_for(imap_server, processed_folder="Processed")
    with ImapMailbox(config) as box:
        uids = box.unflagged_uids()
        box.mark_processed(uids[:3])
        assert box.unflagged_uids() == uids[3:]
        assert box.uids_after(0) == uids[3:]
    assert len(flags_of(imap_server, "Processed")) == 3
    assert len(flags_of(imap_server)) == 1


def test_wrong_password_is_an_auth_error(imap_server: ImapTestServer) -> None:
    config = imap_config_for(imap_server)
    bad = ImapConfig(config.host, config.port, config.username, "wrong-password", security="none")
    with pytest.raises(ImapAuthError) as info:
        ImapMailbox(bad).connect()
    assert info.value.__cause__ is not None
    assert "wrong-password" not in str(info.value)


def test_password_not_in_config_repr(imap_server: ImapTestServer) -> None:
    assert imap_server.password not in repr(imap_config_for(imap_server))


def test_nobody_listening_is_a_connection_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = ImapConfig("127.0.0.1", port, "u", "p", security="none", timeout=2)
    with pytest.raises(ImapConnectionError) as info:
        ImapMailbox(config).connect()
    assert isinstance(info.value.__cause__, OSError)


def test_starttls_not_offered_is_refused(imap_server: ImapTestServer) -> None:
    config = imap_config_for(imap_server, security="starttls")
    box = ImapMailbox(config)
    with pytest.raises(ImapSecurityError, match="STARTTLS"):
        box.connect()
    assert not box.connected


def test_starttls_refusal_sends_no_login(dovecot_server: DovecotServer) -> None:
    log_file = dovecot_server.root / "dovecot.log"
    before = len(log_file.read_bytes())  # past the server's own readiness login
    with pytest.raises(ImapSecurityError):
        ImapMailbox(imap_config_for(dovecot_server, security="starttls")).connect()
    time.sleep(0.2)  # the login process logs the disconnect asynchronously
    log = log_file.read_bytes()[before:].decode(errors="replace")
    assert "Disconnected" in log  # the refused session is in what is read
    assert "Login: user=" not in log
    assert "auth failed" not in log.lower()


def test_ssl_against_plain_server_fails_without_fallback(imap_server: ImapTestServer) -> None:
    box = ImapMailbox(imap_config_for(imap_server, security="ssl", timeout=3))
    with pytest.raises((ImapSecurityError, ImapConnectionError)):
        box.connect()
    assert not box.connected


def test_idle_wakes_on_append(imap_server: ImapTestServer, mailbox: ImapMailbox) -> None:
    mailbox.connect()
    timer = threading.Timer(0.3, imap_server.append, args=(mail(1),))
    started = time.monotonic()
    timer.start()
    try:
        woke = mailbox.idle_wait(10)
    finally:
        timer.join()
    elapsed = time.monotonic() - started
    assert woke
    assert elapsed < 3
    assert len(mailbox.uids_after(0)) == 1


def test_idle_times_out_and_stops(mailbox: ImapMailbox) -> None:
    mailbox.connect()
    started = time.monotonic()
    assert mailbox.idle_wait(0.5) is False
    assert 0.4 < time.monotonic() - started < 3
    stop = threading.Event()
    stop.set()
    assert mailbox.idle_wait(60, stop=stop) is False
    mailbox.noop()  # the session is still usable after DONE


def test_idle_on_dead_server_raises_connection_error(imap_server: ImapTestServer) -> None:
    box = ImapMailbox(imap_config_for(imap_server, timeout=3))
    box.connect()
    imap_server.restart()
    with pytest.raises(ImapConnectionError):
        box.idle_wait(5)
    assert not box.connected


def _tls_config(server: DovecotServer, security: Security, *, trusted: bool = True) -> ImapConfig:
    port = server.tls_port if security == "ssl" else server.port
    context = ssl.create_default_context(cafile=str(server.cert_path)) if trusted else None
    return ImapConfig(
        server.host,
        port,
        server.username,
        server.password,
        security=security,
        ssl_context=context,
        timeout=10,
    )


@pytest.mark.parametrize("security", ["ssl", "starttls"])
def test_tls_modes_log_in_over_tls(dovecot_tls_server: DovecotServer, security: Security) -> None:
    dovecot_tls_server.append(mail(1))  # the fixture's own session is plain text
    time.sleep(0.2)
    before = len(dovecot_tls_server.log_tail(10_000).splitlines())
    with ImapMailbox(_tls_config(dovecot_tls_server, security)) as box:
        assert box.uidvalidity > 0
        assert len(box.fetch(box.uids_after(0))) == 1
    time.sleep(0.2)
    new_lines = dovecot_tls_server.log_tail(10_000).splitlines()[before:]
    logins = [line for line in new_lines if "Login:" in line]
    assert len(logins) == 1
    assert ", TLS," in logins[0]


@pytest.mark.parametrize("security", ["ssl", "starttls"])
def test_untrusted_certificate_is_a_security_error(
    dovecot_tls_server: DovecotServer, security: Security
) -> None:
    box = ImapMailbox(_tls_config(dovecot_tls_server, security, trusted=False))
    with pytest.raises(ImapSecurityError) as info:
        box.connect()
    assert isinstance(info.value.__cause__, ssl.SSLError)
    assert not box.connected


def test_idle_over_tls(dovecot_tls_server: DovecotServer) -> None:
    with ImapMailbox(_tls_config(dovecot_tls_server, "ssl")) as box:
        timer = threading.Timer(0.2, dovecot_tls_server.append, args=(mail(1),))
        timer.start()
        try:
            assert box.idle_wait(10)
        finally:
            timer.join()
        assert len(box.uids_after(0)) == 1
