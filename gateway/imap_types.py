"""What the IMAP adapter takes and gives: its settings, the mail it fetches and the four
errors the rest of the gateway has to tell apart."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "FetchedMail",
    "ImapAuthError",
    "ImapConfig",
    "ImapConnectionError",
    "ImapError",
    "ImapSecurityError",
    "Security",
]

Security = Literal["ssl", "starttls", "none"]


class ImapError(Exception):
    """Root of every IMAP failure; carries the server it happened on."""

    def __init__(self, message: str, *, host: str = "", port: int = 0) -> None:
        super().__init__(message)
        self.host = host
        self.port = port


class ImapConnectionError(ImapError):
    """The connection failed or died: reconnect (with backoff) and search again."""


class ImapAuthError(ImapError):
    """The server refused the credentials (password or OAuth2 access token)."""


class ImapSecurityError(ImapError):
    """The requested transport security could not be had; we never fall back to plain text."""


@dataclass(frozen=True)
class ImapConfig:
    """Where the aliases' mail is and how to reach it."""

    host: str
    port: int
    username: str
    password: str = field(repr=False)
    security: Security
    folder: str = "INBOX"
    processed_folder: str | None = None
    timeout: float = 30.0
    ssl_context: ssl.SSLContext | None = field(default=None, repr=False, compare=False)
    token_provider: Callable[[], str] | None = field(default=None, repr=False, compare=False)
    """Set: log in with XOAUTH2 and the token it returns, never with ``password``."""

    @property
    def mailbox_key(self) -> str:
        """A stable name for the folder, used with UIDVALIDITY to key stored mail.

        The port is left out on purpose: switching from implicit TLS (993) to STARTTLS (143)
        does not make it another mailbox.
        """
        return f"{self.username}@{self.host}/{self.folder}"


@dataclass(frozen=True, slots=True)
class FetchedMail:
    """One message as the server stores it, untouched."""

    uid: int
    raw: bytes
    held_size: int | None = None
    """Set for mail over the size limit: ``raw`` is then its header alone (never the whole
    mail), and this is the size the server reports for all of it."""
