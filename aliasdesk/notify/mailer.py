"""Hand composed mail to the SMTP server over one reused connection.

``SmtpMailer`` is the asyncio client: it connects, logs in (password or XOAUTH2), runs
one transaction at a time and turns every failure into a ``DeliveryError`` sorted for
the retry decision (see ``delivery_errors``). Security is never downgraded:
``starttls`` against a server that does not offer it fails before anything is sent.

This is also the module callers import from: the errors and the synchronous, pooled
``SyncSmtpMailer`` (``smtp_pool``) are re-exported here. The pool uses a mailer only
through ``checked_recipients``, ``connection`` and ``sibling``.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Literal

import aiosmtplib

from aliasdesk.notify.delivery_errors import (
    DeliveryError,
    PartialDeliveryError,
    PermanentDeliveryError,
    SmtpSetupError,
    TransientDeliveryError,
    all_recipients_refused,
    classify_reply,
)
from aliasdesk.notify.smtp_data import send_data
from aliasdesk.notify.smtp_pool import Item, SyncSmtpMailer
from aliasdesk.transport.oauth import OAuthError, invalidate, xoauth2_response

__all__ = [
    "DEFAULT_PORTS",
    "DeliveryError",
    "Item",
    "OpenConnection",
    "PartialDeliveryError",
    "PermanentDeliveryError",
    "Security",
    "SmtpMailer",
    "SmtpSetupError",
    "SyncSmtpMailer",
    "TransientDeliveryError",
]

log = logging.getLogger(__name__)

Security = Literal["ssl", "starttls", "none"]
DEFAULT_PORTS: dict[str, int] = {"ssl": 465, "starttls": 587, "none": 25}


class _StaleConnection(Exception):
    """The reused connection was gone before the first command: safe to reconnect."""


class SmtpMailer:
    """An aiosmtplib client that keeps its connection between sends.

    One instance belongs to one event loop; ``send`` calls are serialised by a lock, as
    SMTP allows one transaction at a time on a connection.
    """

    def __init__(
        self,
        host: str,
        port: int | None = None,
        *,
        security: Security = "starttls",
        username: str | None = None,
        password: str | None = None,
        timeout: float = 30.0,
        tls_context: ssl.SSLContext | None = None,
        local_hostname: str | None = None,
        token_provider: Callable[[], str] | None = None,
    ) -> None:
        """``token_provider`` set: log in as ``username`` with XOAUTH2 and the access token it
        returns (``password`` is then never sent); it is called in a worker thread, as
        fetching a token may block on HTTP."""
        if security not in DEFAULT_PORTS:
            raise ValueError(f"security must be ssl, starttls or none, not {security!r}")
        self.host = host
        self.port = port if port is not None else DEFAULT_PORTS[security]
        self.security: Security = security
        self.username = username
        self._password = password
        self.timeout = timeout
        self._tls_context = tls_context
        self._local_hostname = local_hostname
        self._token_provider = token_provider
        if token_provider is not None and not username:
            raise ValueError("XOAUTH2 needs the username the token was issued for")
        self._client: aiosmtplib.SMTP | None = None
        self._lock: asyncio.Lock | None = None
        self.connections_opened = 0

    def __repr__(self) -> str:  # never shows the password
        return f"SmtpMailer({self.host}:{self.port}, security={self.security})"

    async def send(self, sender: str, recipients: Sequence[str], message: bytes) -> str:
        """Send ``message`` (complete bytes) and return the server's final reply text."""
        targets = self.checked_recipients(sender, recipients)
        async with self.connection() as connection:
            return await connection.send(sender, targets, message)

    @staticmethod
    def checked_recipients(sender: str, recipients: Sequence[str]) -> list[str]:
        """The recipients as a list, after the checks that need no server.

        Raises what ``send`` would for such a mail (``ValueError`` for no recipients, a
        ``PermanentDeliveryError`` for an address that is not ASCII), before any
        connection is touched.
        """
        targets = list(recipients)
        if not targets:
            raise ValueError("no recipients")
        for address in (sender, *targets):
            if not address.isascii():
                # Would need SMTPUTF8 (RFC 6531); refused before anything is sent.
                raise PermanentDeliveryError(None, f"address is not ASCII: {address!r}")
        return targets

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[OpenConnection]:
        """Wait for this mailer's connection, open it if needed, hold it for one transaction.

        Entering raises what ``send`` raises when the connection cannot be opened; inside,
        only ``OpenConnection.send`` fails. So a caller with other connections to turn
        to (the pool in ``smtp_pool``) can tell "no connection" from "this mail failed".
        """
        async with self._serialised():
            reused = await self._ensure_connected()
            yield OpenConnection(self, reused=reused)

    def sibling(self) -> SmtpMailer:
        """A mailer for the same server and login with no connection yet, for a pool."""
        return SmtpMailer(
            self.host, self.port, security=self.security, username=self.username,
            password=self._password, timeout=self.timeout, tls_context=self._tls_context,
            local_hostname=self._local_hostname, token_provider=self._token_provider,
        )  # fmt: skip

    def _serialised(self) -> asyncio.Lock:
        """The lock of this mailer's connection: SMTP runs one transaction at a time."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        return self._lock

    async def _send_connected(
        self, sender: str, targets: list[str], message: bytes, *, reused: bool
    ) -> str:
        """One transaction on the open connection; once more on a fresh one if it was stale.

        Stale means the first command failed on a reused connection, before the server
        could have taken anything, so the mail cannot arrive twice.
        """
        try:
            return await self._transaction(sender, targets, message, stale_ok=reused)
        except _StaleConnection:
            log.info("event=smtp_reconnect host=%s reason=stale", self.host)
            await self._ensure_connected()
            return await self._transaction(sender, targets, message, stale_ok=False)

    async def close(self) -> None:
        """Say QUIT politely if still connected; never raises."""
        client, self._client = self._client, None
        if client is None:
            return
        try:
            if client.is_connected:
                await client.quit(timeout=min(self.timeout, 5.0))
        except (aiosmtplib.SMTPException, OSError):
            pass
        finally:
            client.close()

    def _new_client(self) -> aiosmtplib.SMTP:
        return aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            # With XOAUTH2 we log in ourselves after connect(); aiosmtplib must not try LOGIN.
            username=None if self._token_provider else self.username,
            password=None if self._token_provider else self._password,
            timeout=self.timeout,
            use_tls=self.security == "ssl",
            # True, not None: None would mean "upgrade if offered", i.e. plain if not.
            start_tls=self.security == "starttls",
            tls_context=self._tls_context,
            local_hostname=self._local_hostname,
        )

    async def _ensure_connected(self) -> bool:
        """Connect if needed; True when an existing connection is being reused."""
        if self._client is not None and self._client.is_connected:
            return True
        if self._client is not None:
            self._client.close()
        client = self._new_client()
        try:
            await client.connect()
            self._check_encrypted(client)
            if self._token_provider is not None:
                await self._xoauth2_login(client, self._token_provider)
        except Exception as e:
            client.close()
            raise self._connect_error(e) from e
        self._client = client
        self.connections_opened += 1
        log.info(
            "event=smtp_connected host=%s port=%s security=%s", self.host, self.port, self.security
        )
        return False

    def _check_encrypted(self, client: aiosmtplib.SMTP) -> None:
        if self.security != "none" and client.get_transport_info("sslcontext") is None:
            raise SmtpSetupError(
                None, f"{self.security} requested but the connection is not encrypted"
            )

    async def _xoauth2_login(self, client: aiosmtplib.SMTP, provider: Callable[[], str]) -> None:
        """AUTH XOAUTH2 with a cached token; on refusal once more with a fresh one.

        The check for XOAUTH2 in the EHLO answer comes first: falling back to a password
        mechanism would send nothing useful and hide a misconfigured server.
        """
        if client.is_ehlo_or_helo_needed:
            await client.ehlo()  # connect() says EHLO only when it logs in or starts TLS
        if "xoauth2" not in client.server_auth_methods:
            raise SmtpSetupError(None, "smtp_auth=oauth2 but the server does not offer XOAUTH2")
        assert self.username is not None
        try:
            await self._xoauth2_attempt(client, self.username, await self._token(provider))
        except aiosmtplib.SMTPAuthenticationError:
            log.info("event=smtp_oauth2_refused host=%s retry=fresh-token", self.host)
            invalidate(provider)
            await self._xoauth2_attempt(client, self.username, await self._token(provider))

    async def _token(self, provider: Callable[[], str]) -> str:
        try:
            return await asyncio.to_thread(provider)
        except OAuthError as e:
            raise SmtpSetupError(None, f"no access token: {e}") from e

    @staticmethod
    async def _xoauth2_attempt(client: aiosmtplib.SMTP, user: str, token: str) -> None:
        response = await client.execute_command(b"AUTH", b"XOAUTH2", xoauth2_response(user, token))
        if response.code == 334:
            # A refusal comes as a challenge carrying a JSON error; the client answers with an
            # empty line and then gets the final 5xx (Google's and Microsoft's XOAUTH2 flow).
            response = await client.execute_command(b"")
        if response.code != 235:
            raise aiosmtplib.SMTPAuthenticationError(response.code, response.message)

    def _connect_error(self, error: Exception) -> Exception:
        if isinstance(error, DeliveryError):
            return error
        if isinstance(error, ssl.SSLError):  # before OSError, its base class
            return SmtpSetupError(None, f"TLS failed: {error}")
        if isinstance(error, aiosmtplib.SMTPAuthenticationError):
            return SmtpSetupError(error.code, f"login refused: {error.message}")
        if isinstance(error, aiosmtplib.SMTPResponseException):
            return TransientDeliveryError(error.code, f"connect: {error.message}")
        if isinstance(error, aiosmtplib.SMTPTimeoutError | TimeoutError):
            return TransientDeliveryError(None, f"connect timed out: {error}")
        if isinstance(
            error, aiosmtplib.SMTPConnectError | aiosmtplib.SMTPServerDisconnected | OSError
        ):
            return TransientDeliveryError(None, f"cannot connect: {error}")
        if isinstance(error, aiosmtplib.SMTPException):
            # STARTTLS not offered or failed, TLS handshake failed: never fall back to plain.
            return SmtpSetupError(None, f"cannot secure the connection: {error}")
        return error

    async def _transaction(
        self, sender: str, recipients: list[str], message: bytes, *, stale_ok: bool
    ) -> str:
        client = self._client
        assert client is not None
        try:
            try:
                await client.mail(sender)
            except (aiosmtplib.SMTPServerDisconnected, ConnectionError) as e:
                if stale_ok:
                    raise _StaleConnection() from e
                raise
            refused = await self._recipients(client, recipients)
            if len(refused) == len(recipients):
                await self._reset(client)
                raise all_recipients_refused(refused)
            response = await send_data(client, message)
        except aiosmtplib.SMTPResponseException as e:
            await self._reset(client)
            raise classify_reply(e.code, e.message) from e
        except (aiosmtplib.SMTPTimeoutError, TimeoutError) as e:
            self._drop()
            raise TransientDeliveryError(None, f"timed out: {e}") from e
        except (aiosmtplib.SMTPServerDisconnected, ConnectionError, OSError) as e:
            self._drop()
            raise TransientDeliveryError(None, f"connection lost: {e}") from e
        if refused:
            accepted = [r for r in recipients if r not in refused]
            raise PartialDeliveryError(response.message, accepted, refused)
        return response.message

    async def _recipients(
        self, client: aiosmtplib.SMTP, recipients: list[str]
    ) -> dict[str, tuple[int, str]]:
        refused: dict[str, tuple[int, str]] = {}
        for address in recipients:
            try:
                await client.rcpt(address)
            except aiosmtplib.SMTPRecipientRefused as e:
                if e.code == 421:  # the server is closing the channel (RFC 5321 §3.8)
                    raise TransientDeliveryError(e.code, e.message) from e
                refused[address] = (e.code, e.message)
        return refused

    async def _reset(self, client: aiosmtplib.SMTP) -> None:
        """RSET after a refusal so the reused connection starts the next mail clean."""
        if not client.is_connected:
            self._drop()
            return
        try:
            await client.rset()
        except (aiosmtplib.SMTPException, OSError):
            self._drop()

    def _drop(self) -> None:
        if self._client is not None:
            self._client.close()
        self._client = None


class OpenConnection:
    """A mailer's connection while one caller holds it: open, with no other transaction.

    Comes from ``SmtpMailer.connection()`` and is good for one ``send``.
    """

    def __init__(self, mailer: SmtpMailer, *, reused: bool) -> None:
        self._mailer = mailer
        self._reused = reused

    async def send(self, sender: str, targets: list[str], message: bytes) -> str:
        """Send to ``targets`` (from ``checked_recipients``); errors as ``SmtpMailer.send``."""
        return await self._mailer._send_connected(sender, targets, message, reused=self._reused)
