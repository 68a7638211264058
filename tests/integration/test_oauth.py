"""XOAUTH2 against real servers: a token endpoint on loopback, Dovecot checking tokens through
its oauth2 passdb, and aiosmtpd accepting only XOAUTH2."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace

import pytest

from aliasdesk.notify.mailer import SmtpMailer, SmtpSetupError, SyncSmtpMailer
from aliasdesk.settings.env import load_settings
from aliasdesk.transport.oauth import (
    OAuthClient,
    OAuthError,
    TokenProvider,
    token_provider_from_settings,
    xoauth2_response,
)
from gateway.imap import ImapAuthError, ImapConfig, ImapMailbox
from gateway.local_servers import LocalImapServer
from tests.support.dovecot import DovecotError, find_dovecot
from tests.support.harness import build_mail
from tests.support.oauth_servers import (
    CLIENT_ID,
    CLIENT_SECRET,
    MAILBOX_USER,
    REFRESH_TOKEN,
    DovecotOAuthServer,
    TokenEndpoint,
    XOAuth2SmtpServer,
)
from tests.support.services import service_missing

# The XOAUTH2 SMTP server requires AUTH on plain text: loopback only, TLS is tested elsewhere.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")

SCOPE = "https://outlook.office365.com/.default"


@pytest.fixture
def token_endpoint() -> Iterator[TokenEndpoint]:
    with TokenEndpoint() as endpoint:
        yield endpoint


@pytest.fixture
def dovecot_oauth(token_endpoint: TokenEndpoint) -> Iterator[DovecotOAuthServer]:
    if find_dovecot() is None:
        service_missing("dovecot", "binary not found; apt-get install dovecot-imapd")
    server = DovecotOAuthServer(token_endpoint)
    try:
        server.start()
    except DovecotError as exc:
        server.cleanup()
        service_missing("dovecot", str(exc))
    try:
        yield server
    finally:
        server.cleanup()


@pytest.fixture
def xoauth2_smtp(token_endpoint: TokenEndpoint) -> Iterator[XOAuth2SmtpServer]:
    with XOAuth2SmtpServer(token_endpoint) as server:
        yield server


def refresh_client(endpoint: TokenEndpoint, **changes: str | None) -> OAuthClient:
    client = OAuthClient(
        endpoint.url, CLIENT_ID, client_secret=CLIENT_SECRET, refresh_token=REFRESH_TOKEN
    )
    return replace(client, **changes)  # type: ignore[arg-type]


class Clock:
    """A hand-wound monotonic clock, so expiry is tested without sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# -- the token provider ------------------------------------------------------------------


def test_refresh_token_grant_is_fetched_once_and_cached(token_endpoint: TokenEndpoint) -> None:
    provider = TokenProvider(refresh_client(token_endpoint, scope=SCOPE))
    first = provider()
    assert provider() == first == token_endpoint.issued[0]
    assert token_endpoint.grants() == ["refresh_token"]
    form = token_endpoint.requests[0].form
    assert form["refresh_token"] == REFRESH_TOKEN and form["scope"] == SCOPE
    assert form["client_id"] == CLIENT_ID


def test_without_a_refresh_token_the_client_credentials_grant_is_used(
    token_endpoint: TokenEndpoint,
) -> None:
    provider = TokenProvider(refresh_client(token_endpoint, refresh_token=None, scope=SCOPE))
    assert provider() == token_endpoint.issued[0]
    assert token_endpoint.grants() == ["client_credentials"]
    form = token_endpoint.requests[0].form
    assert form["client_secret"] == CLIENT_SECRET and "refresh_token" not in form


def test_a_token_is_refreshed_shortly_before_it_expires(token_endpoint: TokenEndpoint) -> None:
    token_endpoint.expires_in = 600
    clock = Clock()
    provider = TokenProvider(refresh_client(token_endpoint), margin=60, clock=clock)
    first = provider()
    clock.now += 539  # 61 s left: still good
    assert provider() == first
    clock.now += 2  # 59 s left: inside the margin
    second = provider()
    assert second != first
    assert token_endpoint.issued == [first, second]
    assert provider.fetches == 2


def test_invalidate_forces_a_new_token(token_endpoint: TokenEndpoint) -> None:
    provider = TokenProvider(refresh_client(token_endpoint))
    first = provider()
    provider.invalidate()
    assert provider() != first
    assert len(token_endpoint.requests) == 2


def test_a_refused_grant_is_a_clear_error_without_secrets(
    token_endpoint: TokenEndpoint, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    provider = TokenProvider(refresh_client(token_endpoint, refresh_token="revoked-secret-rt"))
    with pytest.raises(OAuthError) as caught:
        provider()
    assert caught.value.status == 400 and caught.value.code == "invalid_grant"
    text = str(caught.value)
    assert "invalid_grant" in text and token_endpoint.url in text
    for secret in ("revoked-secret-rt", CLIENT_SECRET):
        assert secret not in text and secret not in caplog.text
        assert secret not in repr(provider)


def test_an_unreachable_endpoint_is_a_clear_error(token_endpoint: TokenEndpoint) -> None:
    url = token_endpoint.url
    token_endpoint.stop()
    provider = TokenProvider(OAuthClient(url, CLIENT_ID, client_secret=CLIENT_SECRET), timeout=2)
    with pytest.raises(OAuthError, match="cannot be reached"):
        provider()


def test_the_xoauth2_initial_response_has_the_documented_shape() -> None:
    import base64

    decoded = base64.b64decode(xoauth2_response("desk@example.com", "tok"))
    assert decoded == b"user=desk@example.com\x01auth=Bearer tok\x01\x01"


def test_settings_build_the_provider(token_endpoint: TokenEndpoint) -> None:
    settings = load_settings(
        {
            "ALIASDESK_IMAP_AUTH": "oauth2",
            "ALIASDESK_OAUTH_TOKEN_URL": token_endpoint.url,
            "ALIASDESK_OAUTH_CLIENT_ID": CLIENT_ID,
            "ALIASDESK_OAUTH_CLIENT_SECRET": CLIENT_SECRET,
            "ALIASDESK_OAUTH_SCOPE": SCOPE,
        },
        env_file=None,
    )
    provider = token_provider_from_settings(settings)
    assert provider is not None
    provider()
    assert token_endpoint.grants() == ["client_credentials"]
    assert token_provider_from_settings(load_settings({}, env_file=None)) is None


# -- IMAP: Dovecot with an oauth2 passdb ---------------------------------------------------


def oauth_imap_config(server: DovecotOAuthServer, provider: object) -> ImapConfig:
    return ImapConfig(
        host=server.host,
        port=server.port,
        username=MAILBOX_USER,
        password="",  # there is none: a password login could only fail
        security="none",
        timeout=10,
        token_provider=provider,  # type: ignore[arg-type]
    )


def test_imap_logs_in_with_xoauth2_and_reads_mail(
    dovecot_oauth: DovecotOAuthServer, token_endpoint: TokenEndpoint
) -> None:
    dovecot_oauth.append(build_mail(subject="Laptop broken"))
    helper_logins = dovecot_oauth.logins("PLAIN")
    provider = TokenProvider(refresh_client(token_endpoint))
    config = oauth_imap_config(dovecot_oauth, provider)
    for _ in range(2):  # two sessions, one token
        with ImapMailbox(config) as mailbox:
            uids = mailbox.uids_after(0)
            assert b"Laptop broken" in mailbox.fetch(uids)[0].raw
    assert token_endpoint.grants() == ["refresh_token"]
    assert dovecot_oauth.logins("XOAUTH2") == 2
    assert dovecot_oauth.logins("PLAIN") == helper_logins  # only the test's APPEND
    assert set(token_endpoint.introspections) == {provider()}


def test_imap_gets_a_fresh_token_once_when_the_cached_one_was_revoked(
    dovecot_oauth: DovecotOAuthServer, token_endpoint: TokenEndpoint
) -> None:
    provider = TokenProvider(refresh_client(token_endpoint))
    token_endpoint.revoke(provider())
    with ImapMailbox(oauth_imap_config(dovecot_oauth, provider)) as mailbox:
        assert mailbox.uidvalidity > 0
    assert len(token_endpoint.issued) == 2
    assert dovecot_oauth.logins("XOAUTH2") == 1


def test_imap_refuses_a_wrong_token_without_trying_a_password(
    dovecot_oauth: DovecotOAuthServer, token_endpoint: TokenEndpoint
) -> None:
    calls: list[str] = []

    def wrong() -> str:
        calls.append("token")
        return "not-a-token-the-endpoint-issued"

    password_logins = dovecot_oauth.logins("PLAIN")  # the server's own, when it started
    with pytest.raises(ImapAuthError, match="login refused"):
        ImapMailbox(oauth_imap_config(dovecot_oauth, wrong)).connect()
    assert calls == ["token", "token"]  # the first try and the one retry
    assert dovecot_oauth.logins("XOAUTH2") == 0
    assert dovecot_oauth.logins("PLAIN") == password_logins


def test_imap_without_xoauth2_on_the_server_is_refused_before_sending_anything(
    pymap_server: LocalImapServer,
) -> None:
    config = ImapConfig(
        host=pymap_server.host,
        port=pymap_server.port,
        username=pymap_server.username,
        password=pymap_server.password,  # there, but must not be used
        security="none",
        timeout=10,
        token_provider=lambda: "unused",
    )
    with pytest.raises(ImapAuthError, match="AUTH=XOAUTH2"):
        ImapMailbox(config).connect()


# -- SMTP: aiosmtpd with XOAUTH2 ---------------------------------------------------------


def mail_bytes() -> bytes:
    return build_mail("hr@example.com", "dave@example.com", "[HR-1] Received")


def oauth_mailer(server: XOAuth2SmtpServer, provider: object) -> SyncSmtpMailer:
    return SyncSmtpMailer(
        SmtpMailer(
            server.host,
            server.port,
            security="none",
            username=MAILBOX_USER,
            timeout=5,
            token_provider=provider,  # type: ignore[arg-type]
        )
    )


def test_smtp_sends_after_xoauth2_with_one_token_for_many_mails(
    xoauth2_smtp: XOAuth2SmtpServer, token_endpoint: TokenEndpoint
) -> None:
    provider = TokenProvider(refresh_client(token_endpoint, refresh_token=None))
    with oauth_mailer(xoauth2_smtp, provider) as mailer:
        mailer.send("hr@example.com", ["dave@example.com"], mail_bytes())
        mailer.send("hr@example.com", ["erika@example.com"], mail_bytes())
    handler = xoauth2_smtp.handler
    assert [m.rcpt_tos for m in handler.messages] == [["dave@example.com"], ["erika@example.com"]]
    assert handler.xoauth2_attempts == [(MAILBOX_USER, True)]
    assert handler.password_attempts == []
    assert token_endpoint.grants() == ["client_credentials"]


def test_smtp_gets_a_fresh_token_once_when_the_cached_one_was_revoked(
    xoauth2_smtp: XOAuth2SmtpServer, token_endpoint: TokenEndpoint
) -> None:
    provider = TokenProvider(refresh_client(token_endpoint))
    token_endpoint.revoke(provider())
    with oauth_mailer(xoauth2_smtp, provider) as mailer:
        mailer.send("hr@example.com", ["dave@example.com"], mail_bytes())
    handler = xoauth2_smtp.handler
    assert handler.xoauth2_attempts == [(MAILBOX_USER, False), (MAILBOX_USER, True)]
    assert len(handler.messages) == 1
    assert len(token_endpoint.issued) == 2


def test_smtp_refuses_a_wrong_token_and_keeps_the_mail_for_later(
    xoauth2_smtp: XOAuth2SmtpServer,
) -> None:
    with (
        oauth_mailer(xoauth2_smtp, lambda: "forged-token") as mailer,
        pytest.raises(SmtpSetupError, match="login refused"),
    ):
        mailer.send("hr@example.com", ["dave@example.com"], mail_bytes())
    handler = xoauth2_smtp.handler
    assert handler.xoauth2_attempts == [(MAILBOX_USER, False), (MAILBOX_USER, False)]
    assert handler.messages == [] and handler.password_attempts == []


def test_smtp_token_endpoint_failure_is_a_setup_error(
    xoauth2_smtp: XOAuth2SmtpServer, token_endpoint: TokenEndpoint
) -> None:
    provider = TokenProvider(refresh_client(token_endpoint, client_id="someone-else"))
    with (
        oauth_mailer(xoauth2_smtp, provider) as mailer,
        pytest.raises(SmtpSetupError, match="invalid_client"),
    ):
        mailer.send("hr@example.com", ["dave@example.com"], mail_bytes())
    assert xoauth2_smtp.handler.xoauth2_attempts == []
