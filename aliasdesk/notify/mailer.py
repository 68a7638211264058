"""Hand composed mail to the SMTP server, over a few reused connections.

Errors are split the way the delivery actor needs them: ``TransientDeliveryError`` means
"keep the mail and try again later" (4xx, timeouts, dropped connections, a server we
cannot talk to as configured), ``PermanentDeliveryError`` means "the server refused this
mail for good" (5xx). When in doubt the error is transient: a duplicate with the same
Message-ID is better than a lost mail. Security is never downgraded: ``starttls``
against a server that does not offer it fails before anything is sent.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import threading
from collections import deque
from collections.abc import Callable, Coroutine, Mapping, Sequence
from concurrent.futures import Future
from types import TracebackType
from typing import Any, Literal, TypeVar

import aiosmtplib

from aliasdesk.services.oauth import OAuthError, invalidate, xoauth2_response

log = logging.getLogger(__name__)

Security = Literal["ssl", "starttls", "none"]
DEFAULT_PORTS: dict[str, int] = {"ssl": 465, "starttls": 587, "none": 25}
T = TypeVar("T")


class DeliveryError(Exception):
    """Root of the mailer's errors; ``code`` is the SMTP reply code when there was one."""

    def __init__(
        self,
        code: int | None,
        message: str,
        refused: Mapping[str, tuple[int, str]] | None = None,
    ) -> None:
        super().__init__(f"{code} {message}" if code is not None else message)
        self.code = code
        self.message = message
        self.refused: dict[str, tuple[int, str]] = dict(refused or {})


class TransientDeliveryError(DeliveryError):
    """Try again later: 4xx, a timeout, a dropped connection, a server unreachable."""


class SmtpSetupError(TransientDeliveryError):
    """The server cannot be used as configured (no STARTTLS offered, login refused).

    Transient on purpose: the mail is fine and must be kept until an admin fixes the
    configuration; only then will a retry succeed.
    """


class PermanentDeliveryError(DeliveryError):
    """The server refused the mail with a 5xx reply; retrying will not help."""


class PartialDeliveryError(PermanentDeliveryError):
    """Accepted for some recipients, refused for the others (``refused``).

    A subclass of the permanent error so that a caller that does not look closer never
    resends, which would duplicate the mail for the ``accepted`` recipients.
    ``refused`` keeps each address's own code: one refused with 4xx may succeed if a
    careful caller retries it alone later.
    """

    def __init__(
        self, reply: str, accepted: Sequence[str], refused: Mapping[str, tuple[int, str]]
    ) -> None:
        code = max(code for code, _ in refused.values())
        summary = "; ".join(f"{addr}: {c} {msg}" for addr, (c, msg) in refused.items())
        super().__init__(code, f"refused for some recipients: {summary}", refused)
        self.reply = reply
        self.accepted = tuple(accepted)


def _classify(
    code: int, message: str, refused: Mapping[str, tuple[int, str]] | None = None
) -> DeliveryError:
    if 500 <= code < 600:
        return PermanentDeliveryError(code, message, refused)
    return TransientDeliveryError(code, message, refused)


class _StaleConnection(Exception):
    """The reused connection was gone before the first command: safe to reconnect."""


def _envelope(sender: str, recipients: Sequence[str]) -> list[str]:
    """The recipients as a list, after the checks that need no server."""
    targets = list(recipients)
    if not targets:
        raise ValueError("no recipients")
    for address in (sender, *targets):
        if not address.isascii():
            # Would need SMTPUTF8 (RFC 6531); refused before anything is sent.
            raise PermanentDeliveryError(None, f"address is not ASCII: {address!r}")
    return targets


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
        targets = _envelope(sender, recipients)
        async with self._serialised():
            reused = await self._ensure_connected()
            return await self._send_connected(sender, targets, message, reused=reused)

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
                raise self._all_refused(refused)
            response = await client.data(message)
        except aiosmtplib.SMTPResponseException as e:
            await self._reset(client)
            raise _classify(e.code, e.message) from e
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

    def _all_refused(self, refused: Mapping[str, tuple[int, str]]) -> DeliveryError:
        summary = "; ".join(f"{addr}: {code} {msg}" for addr, (code, msg) in refused.items())
        codes = [code for code, _ in refused.values()]
        if all(500 <= code < 600 for code in codes):
            return PermanentDeliveryError(codes[0], f"all recipients refused: {summary}", refused)
        transient = next(code for code in codes if not 500 <= code < 600)
        return TransientDeliveryError(transient, f"recipients refused: {summary}", refused)

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


Item = tuple[str, Sequence[str], bytes]
"""One mail for ``send_many``: envelope sender, envelope recipients, complete bytes."""


def _as_delivery_error(error: Exception) -> DeliveryError:
    """What a batch reports for a mail: the mailer's own error, or a transient one."""
    if isinstance(error, DeliveryError):
        return error
    return TransientDeliveryError(None, f"unexpected error: {type(error).__name__}: {error}")


class _Batch:
    """One ``send_many`` call: its mails, taken one at a time by the pool's connections.

    A connection that cannot be opened puts its mail back for the others and drops out.
    When none is left, the mails not taken get that connection's error, as ``send``
    would have raised it; nothing was sent for them, so no mail can arrive twice, and a
    batch against a dead server costs one connection attempt per pool member, not one
    per mail.
    """

    def __init__(self, items: Sequence[Item]) -> None:
        self.items = items
        self.results: list[str | DeliveryError | None] = [None] * len(items)
        self.waiting = deque(range(len(items)))
        self.connect_error: DeliveryError | None = None

    async def run(self, members: Sequence[SmtpMailer]) -> list[str | DeliveryError]:
        await asyncio.gather(*(self._work(member) for member in members))
        fallback = self.connect_error or TransientDeliveryError(None, "no connection to send on")
        return [fallback if result is None else result for result in self.results]

    async def _work(self, member: SmtpMailer) -> None:
        while self.waiting:
            index = self.waiting.popleft()
            sender, recipients, message = self.items[index]
            try:
                targets = _envelope(sender, recipients)
                async with member._serialised():
                    try:
                        reused = await member._ensure_connected()
                    except Exception as error:
                        self.waiting.appendleft(index)
                        self.connect_error = _as_delivery_error(error)
                        return
                    self.results[index] = await member._send_connected(
                        sender, targets, message, reused=reused
                    )
            except Exception as error:
                self.results[index] = _as_delivery_error(error)


class SyncSmtpMailer:
    """``SmtpMailer`` for synchronous callers (Dramatiq actors, the CLI).

    A private event loop runs in a daemon thread for the mailer's whole life, so the SMTP
    connections survive between calls. ``send`` uses the first connection; ``send_many``
    spreads a batch over up to ``connections`` of them, because most of a send is spent
    waiting for the server's replies. Each connection is opened when first needed and
    carries one transaction at a time, however many threads call in.
    """

    def __init__(self, mailer: SmtpMailer, *, connections: int = 4) -> None:
        if connections < 1:
            raise ValueError("connections must be at least 1")
        self.mailer = mailer
        self._size = connections
        self._pool = [mailer]  # grown only inside the loop, so no lock is needed
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="aliasdesk-smtp", daemon=True
        )
        self._thread.start()
        self._closed = False

    def send(self, sender: str, recipients: Sequence[str], message: bytes) -> str:
        """Blocking ``SmtpMailer.send``; raises the same errors."""
        if self._closed:
            raise RuntimeError("the mailer is closed")
        return self._run(self.mailer.send(sender, recipients, message))

    def send_many(self, items: Sequence[Item]) -> list[str | DeliveryError]:
        """Send every mail, several at once; one entry per mail, in the order given.

        An entry is the server's reply, as ``send`` returns it, or the error ``send``
        would have raised for that mail (anything unexpected becomes a
        ``TransientDeliveryError``). One mail's failure never stops the others; each mail
        is tried at most once, apart from the resend on a stale connection that ``send``
        also makes before the server has taken anything.
        """
        if self._closed:
            raise RuntimeError("the mailer is closed")
        if not items:
            return []
        return self._run(self._send_many(items))

    @property
    def connections_opened(self) -> int:
        return sum(member.connections_opened for member in list(self._pool))

    def close(self) -> None:
        """QUIT on every connection, stop the loop and its thread. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        try:
            self._run(self._close_all())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            if not self._thread.is_alive():
                self._loop.close()

    async def _send_many(self, items: Sequence[Item]) -> list[str | DeliveryError]:
        while len(self._pool) < min(self._size, len(items)):
            self._pool.append(self.mailer.sibling())
        return await _Batch(items).run(self._pool[: len(items)])

    async def _close_all(self) -> None:
        await asyncio.gather(*(member.close() for member in self._pool))

    def __enter__(self) -> SyncSmtpMailer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        future: Future[T] = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        return future.result()
