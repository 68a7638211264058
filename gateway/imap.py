"""A small typed adapter over imapclient: the only place that speaks IMAP.

imapclient is untyped and raises a zoo of imaplib, socket and ssl errors; the rest of the gateway
sees a handful of typed methods and four error classes instead. The adapter never marks a mail
\\Seen by itself (the aliases' mailbox is often shared with humans): it reads with BODY.PEEK[] and
records "processed" with a private keyword, or by moving the mail to a folder.
"""

from __future__ import annotations

import contextlib
import logging
import ssl
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from imapclient import IMAPClient
from imapclient import exceptions as imap_exc

from aliasdesk.transport.lifetime import Lifetime
from aliasdesk.transport.oauth import OAuthError, invalidate
from gateway.imap_idle import wait_readable
from gateway.imap_types import (
    FetchedMail,
    ImapAuthError,
    ImapConfig,
    ImapConnectionError,
    ImapError,
    ImapSecurityError,
    Security,
)

__all__ = [
    "DONE_KEYWORD",
    "FetchedMail",
    "ImapAuthError",
    "ImapConfig",
    "ImapConnectionError",
    "ImapError",
    "ImapMailbox",
    "ImapSecurityError",
    "Security",
]

log = logging.getLogger(__name__)

DONE_KEYWORD = "$AliasdeskDone"
"""The keyword set on processed mail: invisible to most mail clients, unlike \\Seen or \\Flagged."""

_CHUNK = 500
"""UIDs per command: imapclient lists them one by one, and 500 keeps a command line far below
servers' limits (Dovecot: 64 KiB)."""


@contextlib.contextmanager
def _translated(config: ImapConfig, action: str) -> Iterator[None]:
    """Turn imapclient/imaplib/socket errors into our classes, keeping the cause chained."""
    host, port = config.host, config.port
    try:
        yield
    except ImapError:
        raise
    except imap_exc.LoginError as exc:
        raise ImapAuthError(f"{action}: login refused: {exc}", host=host, port=port) from exc
    except ssl.SSLError as exc:
        raise ImapSecurityError(f"{action}: TLS failed: {exc}", host=host, port=port) from exc
    except (imap_exc.IMAPClientAbortError, OSError, EOFError) as exc:
        raise ImapConnectionError(
            f"{action}: connection lost: {exc}", host=host, port=port
        ) from exc
    except imap_exc.IMAPClientError as exc:
        raise ImapError(f"{action}: server said: {exc}", host=host, port=port) from exc


def _chunks(uids: Sequence[int], size: int = _CHUNK) -> Iterator[list[int]]:
    ordered = sorted(set(uids))
    for i in range(0, len(ordered), size):
        yield ordered[i : i + size]


class ImapMailbox(Lifetime):
    """One logged-in session on one folder."""

    def __init__(self, config: ImapConfig) -> None:
        self.config = config
        self._client: IMAPClient | None = None
        self._uidvalidity = 0
        self._keywords_allowed = True
        self._processed_folder_ready = False

    # -- session -------------------------------------------------------------------------

    def connect(self) -> int:
        """Connect, secure, log in and select the folder; returns its UIDVALIDITY."""
        self.close()
        cfg = self.config
        with _translated(cfg, "connect"):
            client = IMAPClient(
                cfg.host,
                cfg.port,
                ssl=cfg.security == "ssl",
                ssl_context=cfg.ssl_context,
                timeout=cfg.timeout,
            )
        _quiet(client)
        try:
            with _translated(cfg, "connect"):
                if cfg.security == "starttls":
                    self._starttls(client)
                self._login(client)
            self._client = client
            uidvalidity = self.select()
        except BaseException:
            self._client = None
            with contextlib.suppress(Exception):
                client.shutdown()
            raise
        log.info(
            "imap.connected host=%s port=%s security=%s user=%s folder=%s uidvalidity=%s "
            "idle=%s keywords=%s capabilities=%s",
            cfg.host,
            cfg.port,
            cfg.security,
            cfg.username,
            cfg.folder,
            uidvalidity,
            self.has_idle(),
            self._keywords_allowed,
            ",".join(self.capabilities()),
        )
        return uidvalidity

    def capabilities(self) -> list[str]:
        """What the server announces once logged in (some announce more after LOGIN)."""
        with _translated(self.config, "capability"):
            return sorted(
                bytes(c).decode("ascii", "replace") for c in self._require().capabilities()
            )

    def _starttls(self, client: IMAPClient) -> None:
        # RFC 3501 6.2.1: only upgrade if the server says it can; a server that does not offer
        # STARTTLS (or a man in the middle stripping it) must not get our password in clear.
        if not client.has_capability("STARTTLS"):
            raise ImapSecurityError(
                "security=starttls but the server does not offer STARTTLS; refusing to log in "
                "in plain text",
                host=self.config.host,
                port=self.config.port,
            )
        client.starttls(self.config.ssl_context)

    def _login(self, client: IMAPClient) -> None:
        provider = self.config.token_provider
        if provider is None:
            client.login(self.config.username, self.config.password)
            return
        # Never fall back to LOGIN: with oauth2 configured there is no password to send, and a
        # server without XOAUTH2 is the wrong server (or its configuration changed).
        if not client.has_capability("AUTH=XOAUTH2"):
            raise ImapAuthError(
                "imap_auth=oauth2 but the server does not offer AUTH=XOAUTH2",
                host=self.config.host,
                port=self.config.port,
            )
        try:
            client.oauth2_login(self.config.username, self._token(provider))
        except imap_exc.LoginError:
            # The cached token may have been revoked before it expired: one fresh token,
            # one more try; a second refusal is the account's or the app's problem.
            log.info("imap.oauth2_refused host=%s retry=fresh-token", self.config.host)
            invalidate(provider)
            client.oauth2_login(self.config.username, self._token(provider))

    def _token(self, provider: Callable[[], str]) -> str:
        try:
            return provider()
        except OAuthError as exc:
            raise ImapAuthError(
                f"login: no access token: {exc}", host=self.config.host, port=self.config.port
            ) from exc

    def select(self) -> int:
        """(Re-)select the folder; returns its current UIDVALIDITY.

        Selecting again before each search is cheap and notices a folder that was deleted and
        recreated (RFC 3501 2.3.1.1: a new UIDVALIDITY means all old UIDs are void).
        """
        client = self._require()
        with _translated(self.config, "select"):
            info = client.select_folder(self.config.folder)
        self._uidvalidity = int(info.get(b"UIDVALIDITY", 0))
        self._keywords_allowed = _keywords_allowed(info)
        return self._uidvalidity

    @property
    def uidvalidity(self) -> int:
        return self._uidvalidity

    @property
    def connected(self) -> bool:
        return self._client is not None

    def close(self) -> None:
        """Log out politely if possible; never raises (the connection may already be dead)."""
        client, self._client = self._client, None
        self._processed_folder_ready = False
        if client is None:
            return
        try:
            client.logout()
        except Exception:
            with contextlib.suppress(Exception):
                client.shutdown()

    start, stop = connect, close  # a ``with`` block connects, and closes however it ends

    def noop(self) -> None:
        with _translated(self.config, "noop"):
            self._require().noop()

    def has_idle(self) -> bool:
        # Capabilities can grow after LOGIN (pymap only announces IDLE then); imapclient
        # refreshes them from the tagged OK's CAPABILITY code.
        client = self._client
        return client is not None and client.has_capability("IDLE")

    # -- searching and fetching ----------------------------------------------------------

    def uids_after(self, last_uid: int) -> list[int]:
        """UIDs greater than ``last_uid``, ascending."""
        with _translated(self.config, "search"):
            found = self._require().search(["UID", f"{last_uid + 1}:*"])
        # RFC 3501 6.4.8/9: "N:*" always includes the highest UID even when it is below N, so
        # an empty range still answers with the last message: filter it out.
        return sorted(uid for uid in found if uid > last_uid)

    def unflagged_uids(self) -> list[int]:
        """UIDs not yet marked processed, ascending."""
        if self.config.processed_folder:
            criteria: list[Any] = ["ALL"]  # processed mail leaves the folder
        elif self._keywords_allowed:
            criteria = ["UNKEYWORD", DONE_KEYWORD]
        else:
            criteria = ["UNSEEN"]
        with _translated(self.config, "search"):
            return sorted(self._require().search(criteria))

    def sizes(self, uids: Sequence[int]) -> dict[int, int]:
        """RFC822.SIZE of these mails (RFC 3501 6.4.5): known before a byte of them is read,
        so batches can be cut by bytes and oversized mail left unread; vanished ones are
        left out."""
        found = self._fetch_items(uids, "RFC822.SIZE", b"RFC822.SIZE")
        return {uid: value for uid, value in found if isinstance(value, int)}

    def fetch(self, uids: Sequence[int]) -> list[FetchedMail]:
        """The raw bytes of these mails, ascending by UID; vanished ones are left out.

        BODY.PEEK[] (RFC 3501 6.4.5) leaves \\Seen alone: a human sharing the mailbox still
        sees the mail as unread.
        """
        found = self._fetch_items(uids, "BODY.PEEK[]", b"BODY[]")
        return [FetchedMail(uid=uid, raw=raw) for uid, raw in found if isinstance(raw, bytes)]

    def fetch_headers(self, uids: Sequence[int], limit: int) -> dict[int, bytes]:
        """At most ``limit`` bytes of each mail's header, without reading its body.

        A partial BODY.PEEK[HEADER] (RFC 3501 6.4.5): a hostile mail with no blank line is
        all header, and must not be read whole this way either.
        """
        item = f"BODY.PEEK[HEADER]<0.{limit}>"
        found = self._fetch_items(uids, item, b"BODY[HEADER]<0>")
        return {uid: raw for uid, raw in found if isinstance(raw, bytes)}

    def _fetch_items(self, uids: Sequence[int], item: str, key: bytes) -> Iterator[tuple[int, Any]]:
        """(uid, value of ``key``) for each of ``uids`` the server still has, ascending."""
        client = self._require()
        for chunk in _chunks(uids):
            with _translated(self.config, "fetch"):
                response = client.fetch(chunk, [item])
            wanted = set(chunk)
            for uid in sorted(response):
                if uid in wanted:
                    yield uid, response[uid].get(key)
            del response  # a chunk's bodies are the caller's now, not held twice

    # -- marking -------------------------------------------------------------------------

    def mark_processed(self, uids: Sequence[int]) -> None:
        """Record that these mails are safely stored: keyword, or move to processed_folder."""
        if not uids:
            return
        if self.config.processed_folder:
            self._move(uids, self.config.processed_folder)
            return
        # Servers whose PERMANENTFLAGS lack \* cannot keep our keyword (RFC 3501 7.1): \Seen
        # is the only durable mark left there, and unflagged_uids() searches UNSEEN to match.
        flag = DONE_KEYWORD if self._keywords_allowed else "\\Seen"
        client = self._require()
        for chunk in _chunks(uids):
            with _translated(self.config, "store"):
                client.add_flags(chunk, [flag], silent=True)

    def _move(self, uids: Sequence[int], target: str) -> None:
        client = self._require()
        self._ensure_folder(target)
        for wanted in _chunks(uids):
            with _translated(self.config, "move"):
                if client.has_capability("MOVE"):
                    client.move(wanted, target)  # RFC 6851: atomic
                    continue
                client.copy(wanted, target)
                client.add_flags(wanted, ["\\Deleted"], silent=True)
                if client.has_capability("UIDPLUS"):
                    client.uid_expunge(wanted)  # RFC 4315: only our messages
                else:
                    client.expunge()

    def _ensure_folder(self, name: str) -> None:
        if self._processed_folder_ready:
            return
        client = self._require()
        with _translated(self.config, "create"):
            if not client.folder_exists(name):
                try:
                    client.create_folder(name)
                except imap_exc.IMAPClientError:
                    # Another gateway may have created it a moment ago.
                    if not client.folder_exists(name):
                        raise
        self._processed_folder_ready = True

    # -- waiting -------------------------------------------------------------------------

    def idle_wait(self, timeout: float, stop: threading.Event | None = None) -> bool:
        """Wait in IDLE (RFC 2177) until the server reports something, ``timeout`` or ``stop``.

        Returns whether the server sent anything. Either way the caller must search again: the
        responses collected when leaving IDLE may hold the very EXISTS that woke us. Any failure
        means the connection cannot be trusted any more and is raised as ImapConnectionError.
        """
        client = self._require()
        try:
            client.idle()
            woke = wait_readable(client, timeout, stop)
            # DONE is read in blocking mode up to the tagged OK, so untagged responses arriving
            # in pieces are read whole (imapclient's non-blocking idle_check can choke on them).
            _text, responses = client.idle_done()
        except Exception as exc:
            self.close()
            raise ImapConnectionError(
                f"idle: connection lost: {exc!r}", host=self.config.host, port=self.config.port
            ) from exc
        return woke or bool(responses)

    # -- plumbing ------------------------------------------------------------------------

    def _require(self) -> IMAPClient:
        if self._client is None:
            raise ImapConnectionError("not connected", host=self.config.host, port=self.config.port)
        return self._client


def _quiet(client: IMAPClient) -> None:
    """Turn off imaplib's debug output unless someone reads it.

    imapclient switches it on and hands it to a logger, but imaplib formats the repr() of
    every response before that logger can drop it: a copy of each fetched mail at two to
    four times its size (a 40 MB mail cost another 95 MB).
    """
    if not logging.getLogger("imapclient.imaplib").isEnabledFor(logging.DEBUG):
        client._imap.debug = 0


def _keywords_allowed(select_info: dict[bytes, Any]) -> bool:
    """Whether the server keeps keywords it has not seen before (RFC 3501 7.1, PERMANENTFLAGS)."""
    permanent = select_info.get(b"PERMANENTFLAGS")
    if permanent is None:
        return True  # RFC 3501: no PERMANENTFLAGS means every flag is permanent
    names = {bytes(flag).lower() for flag in permanent}
    return b"\\*" in names or DONE_KEYWORD.lower().encode() in names
