"""Process settings from ``ALIASDESK_*`` environment variables and ``.env`` (CONTRACT §2).

Every process validates its settings before its first network call, so a typo in a port
or a security mode stops it at once with the variable's name instead of failing later
in a connection attempt. The real environment wins over ``.env``, as in most tools, so
a deployment can override a checked-in file. Passwords (and passwords inside URLs) never
appear in ``repr()`` or :meth:`Settings.redacted`, which is what logs and ``--debug``
output are built from.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, TypeVar

from dotenv import dotenv_values

from aliasdesk.settings import shipped
from aliasdesk.settings.errors import ConfigError, SettingsError
from aliasdesk.settings.url_secrets import MASK as MASK
from aliasdesk.settings.url_secrets import mask_url as mask_url
from aliasdesk.settings.url_secrets import password_problem
from aliasdesk.settings.web_key import KEY_HINT, secret_key

PREFIX = "ALIASDESK_"
SECURITY_MODES = ("ssl", "starttls", "none")
AUTH_MODES = ("password", "oauth2")
SECRET_SUFFIXES = ("_password", "_secret", "_token", "_key")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")
BROKER_SCHEMES = ("redis", "rediss", "amqp", "amqps")
BROKER_NAMESPACE = "dramatiq"  # Dramatiq's own prefix for its Redis keys
TEMPLATE_DIR = shipped.template_dir()  # the checkout's templates/email, or the copy in the package
SNIPPET_DIR = shipped.snippet_dir()  # the saved answers of "#reply NAME"
MAX_MAIL_BYTES = 50 * 1024 * 1024
MIN_MAIL_BYTES = 64 * 1024
"""Below this even an ordinary request with a signature logo would be held back."""
MAX_MAIL_CEILING = 2**31 - 1
"""A mail is held in memory whole while it is taken in: beyond 2 GiB that is no longer a
helpdesk's mail, whatever the server accepted."""

# Ports implied by the security mode when none is given (RFC 8314 for implicit TLS).
IMAP_PORTS = {"ssl": 993, "starttls": 143, "none": 143}
SMTP_PORTS = {"ssl": 465, "starttls": 587, "none": 25}


_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?"
_AUTHSERV = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
_INSTANCE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_BROKER_NAMESPACE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")

T = TypeVar("T")


@dataclass(frozen=True, repr=False)
class Settings:
    """Everything a process needs to know before it starts; see CONTRACT §2 for meanings."""

    database_url: str = "sqlite:///aliasdesk.db"
    broker_url: str = "embedded"
    broker_namespace: str = BROKER_NAMESPACE  # prefix of the Redis keys; Redis brokers only
    routing_file: Path = Path("config/routing.yaml")
    imap_host: str | None = None
    imap_port: int = 993
    imap_username: str | None = None
    imap_password: str | None = None
    imap_security: str = "ssl"
    imap_folder: str = "INBOX"
    imap_poll_interval: int = 30
    imap_batch_size: int = 100
    imap_processed_folder: str | None = None  # None: processed mail is only flagged
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_security: str = "starttls"
    imap_auth: str = "password"  # password | oauth2 (XOAUTH2 with a token from oauth_token_url)
    smtp_auth: str = "password"
    oauth_token_url: str | None = None
    oauth_client_id: str | None = None
    oauth_client_secret: str | None = None
    oauth_refresh_token: str | None = None  # None: the client-credentials grant
    oauth_scope: str | None = None
    max_attachment_bytes: int = 25 * 1024 * 1024
    outside_mail_per_minute: int = 120  # automatic mail to outside addresses; 0: no limit
    max_mail_bytes: int = MAX_MAIL_BYTES  # larger mail is held in the mailbox, not fetched
    template_dir: Path = TEMPLATE_DIR
    snippet_dir: Path = SNIPPET_DIR
    require_authentication_results: bool = False
    authserv_id: str | None = None  # the receiving server whose Authentication-Results count
    instance_id: str = "aliasdesk"
    log_level: str = "INFO"
    metrics_port: int | None = None
    web_url: str | None = None  # public base of the ticket pages; None: no links in mail
    web_port: int = 8025
    secret_key: str | None = None  # signs page links and forms; required with the web
    lmtp_port: int | None = None  # ``run`` also takes mail over LMTP on 127.0.0.1:PORT

    @property
    def embedded_broker(self) -> bool:
        return self.broker_url == "embedded"

    @property
    def uses_oauth(self) -> bool:
        """Whether either mail server is reached with an OAuth2 access token (XOAUTH2)."""
        return "oauth2" in (self.imap_auth, self.smtp_auth)

    def redacted(self) -> dict[str, Any]:
        """All settings as plain values, safe to log: secrets masked, paths as text."""
        shown: dict[str, Any] = {}
        for item in fields(self):
            value = getattr(self, item.name)
            if item.name.endswith(SECRET_SUFFIXES):
                value = MASK if value else None
            elif item.name.endswith("_url") and value is not None:
                value = mask_url(value)
            elif isinstance(value, Path):
                value = str(value)
            shown[item.name] = value
        return shown

    def __repr__(self) -> str:
        body = ", ".join(f"{name}={value!r}" for name, value in self.redacted().items())
        return f"Settings({body})"


def load_settings(
    environ: Mapping[str, str] | None = None, env_file: Path | None = Path(".env")
) -> Settings:
    """Read, check and return the settings; raises :class:`SettingsError` with every problem.

    ``environ`` defaults to ``os.environ``; ``env_file`` is read when it exists (None: never).
    Empty values count as unset, so a ``.env`` template with ``ALIASDESK_IMAP_PASSWORD=``
    keeps the default.
    """
    reader = _Reader(os.environ if environ is None else environ, env_file)
    return reader.settings()


class _Reader:
    """Looks variables up (environment first, then ``.env``) and collects every error."""

    def __init__(self, environ: Mapping[str, str], env_file: Path | None) -> None:
        self.environ = environ
        self.env_file = env_file
        self.file_values: dict[str, str] = {}
        self.lines: list[str] = []
        self.errors: list[ConfigError] = []
        if env_file is not None and env_file.is_file():
            self._read_env_file(env_file)

    def _read_env_file(self, env_file: Path) -> None:
        try:
            # interpolate=False: a "$" in a password must stay a "$".
            values = dotenv_values(env_file, interpolate=False, encoding="utf-8")
            self.lines = env_file.read_text(encoding="utf-8", errors="replace").splitlines()
        except (OSError, UnicodeDecodeError) as error:
            self.errors.append(ConfigError(str(env_file), 0, "file", f"cannot be read: {error}"))
            return
        self.file_values = {key: value for key, value in values.items() if value is not None}

    def raw(self, name: str) -> str | None:
        value = self.environ.get(PREFIX + name)
        if value is None:
            value = self.file_values.get(PREFIX + name)
        return value.strip() if value is not None and value.strip() else None

    def error(self, name: str, message: str) -> None:
        variable = PREFIX + name
        if variable in self.environ or self.env_file is None:
            self.errors.append(ConfigError("environment", 0, variable, message))
            return
        pattern = re.compile(rf"^\s*(?:export\s+)?{re.escape(variable)}\s*=")
        line = next((n for n, text in enumerate(self.lines, 1) if pattern.match(text)), 0)
        self.errors.append(ConfigError(str(self.env_file), line, variable, message))

    def get(self, name: str, parse: Callable[[str], T], default: T) -> T:
        value = self.raw(name)
        if value is None:
            return default
        try:
            return parse(value)
        except ValueError as error:
            self.error(name, str(error))
            return default

    def settings(self) -> Settings:
        imap_security = self.get("IMAP_SECURITY", _choice(SECURITY_MODES), "ssl")
        smtp_security = self.get("SMTP_SECURITY", _choice(SECURITY_MODES), "starttls")
        port = _integer(1, 65535)
        settings = Settings(
            database_url=self.get("DATABASE_URL", _url, "sqlite:///aliasdesk.db"),
            broker_url=self.get("BROKER_URL", _broker_url, "embedded"),
            broker_namespace=self.get("BROKER_NAMESPACE", _broker_namespace, BROKER_NAMESPACE),
            routing_file=self.get("ROUTING_FILE", Path, Path("config/routing.yaml")),
            imap_host=self.raw("IMAP_HOST"),
            imap_port=self.get("IMAP_PORT", port, IMAP_PORTS[imap_security]),
            imap_username=self.raw("IMAP_USERNAME"),
            imap_password=self.raw("IMAP_PASSWORD"),
            imap_security=imap_security,
            imap_folder=self.raw("IMAP_FOLDER") or "INBOX",
            imap_poll_interval=self.get("IMAP_POLL_INTERVAL", _integer(1, 86400), 30),
            imap_batch_size=self.get("IMAP_BATCH_SIZE", _integer(1, 100_000), 100),
            imap_processed_folder=self.raw("IMAP_PROCESSED_FOLDER"),
            smtp_host=self.raw("SMTP_HOST"),
            smtp_port=self.get("SMTP_PORT", port, SMTP_PORTS[smtp_security]),
            smtp_username=self.raw("SMTP_USERNAME"),
            smtp_password=self.raw("SMTP_PASSWORD"),
            smtp_security=smtp_security,
            imap_auth=self.get("IMAP_AUTH", _choice(AUTH_MODES), "password"),
            smtp_auth=self.get("SMTP_AUTH", _choice(AUTH_MODES), "password"),
            oauth_token_url=self.get("OAUTH_TOKEN_URL", _http_url, None),
            oauth_client_id=self.raw("OAUTH_CLIENT_ID"),
            oauth_client_secret=self.raw("OAUTH_CLIENT_SECRET"),
            oauth_refresh_token=self.raw("OAUTH_REFRESH_TOKEN"),
            oauth_scope=self.raw("OAUTH_SCOPE"),
            max_attachment_bytes=self.get("MAX_ATTACHMENT_BYTES", _integer(0, 2**40), 25 << 20),
            outside_mail_per_minute=self.get(
                "OUTSIDE_MAIL_PER_MINUTE", _integer(0, 1_000_000), 120
            ),
            max_mail_bytes=self.get(
                "MAX_MAIL_BYTES", _integer(MIN_MAIL_BYTES, MAX_MAIL_CEILING), MAX_MAIL_BYTES
            ),
            template_dir=self.get("TEMPLATE_DIR", Path, TEMPLATE_DIR),
            snippet_dir=self.get("SNIPPET_DIR", Path, SNIPPET_DIR),
            require_authentication_results=self.get("REQUIRE_AUTH_RESULTS", _boolean, False),
            authserv_id=self.get("AUTHSERV_ID", _authserv_id, None),
            instance_id=self.get("INSTANCE_ID", _instance_id, "aliasdesk"),
            log_level=self.get("LOG_LEVEL", _log_level, "INFO"),
            metrics_port=self.get("METRICS_PORT", port, None),
            web_url=self.get("WEB_URL", lambda value: _http_url(value).rstrip("/"), None),
            web_port=self.get("WEB_PORT", port, 8025),
            secret_key=self.get("SECRET_KEY", secret_key, None),
            lmtp_port=self.get("LMTP_PORT", port, None),
        )
        self._check_oauth(settings)
        self._check_broker_namespace(settings)
        self._check_authentication(settings)
        if settings.web_url and not settings.secret_key:
            self.error("SECRET_KEY", f"required while ALIASDESK_WEB_URL is set: {KEY_HINT}")
        if self.errors:
            raise SettingsError(self.errors)
        return settings

    def _check_authentication(self, settings: Settings) -> None:
        """Requiring Authentication-Results without naming the server that writes them would
        silently refuse every member's mail; say so at start-up instead."""
        if settings.require_authentication_results and not settings.authserv_id:
            self.error(
                "REQUIRE_AUTH_RESULTS",
                "needs ALIASDESK_AUTHSERV_ID (the authserv-id your receiving server writes "
                "into Authentication-Results, e.g. mx.example.com); without it no member's "
                "mail could ever be verified",
            )

    def _check_broker_namespace(self, settings: Settings) -> None:
        """A namespace is the prefix of Dramatiq's Redis keys; RabbitMQ has no such thing.

        Accepting one there would promise isolation that does not exist (two deployments
        on one RabbitMQ server would still share their queues), so it stops the process
        instead. The embedded broker has no shared server to isolate: it ignores the value.
        """
        if settings.broker_namespace == BROKER_NAMESPACE:
            return
        scheme = settings.broker_url.partition("://")[0].lower()
        if scheme in ("amqp", "amqps"):
            self.error(
                "BROKER_NAMESPACE",
                "applies to Redis brokers only; RabbitMQ has none (give each deployment a "
                "virtual host of its own in ALIASDESK_BROKER_URL instead), so leave it unset",
            )

    def _check_oauth(self, settings: Settings) -> None:
        """OAuth2 needs a token endpoint and a client before the first connection, not after.

        Without a refresh token the client-credentials grant is used, and that one cannot
        work without the client secret. The error goes on the ``_AUTH`` variable that asked
        for OAuth2 when the missing piece has no line of its own to point at.
        """
        if not settings.uses_oauth:
            return
        asking = "IMAP_AUTH" if settings.imap_auth == "oauth2" else "SMTP_AUTH"
        if settings.oauth_token_url is None and self.raw("OAUTH_TOKEN_URL") is None:
            self.error(asking, "oauth2 needs ALIASDESK_OAUTH_TOKEN_URL")
        if settings.oauth_client_id is None:
            self.error(asking, "oauth2 needs ALIASDESK_OAUTH_CLIENT_ID")
        if settings.oauth_refresh_token is None and settings.oauth_client_secret is None:
            self.error(
                asking,
                "oauth2 without ALIASDESK_OAUTH_REFRESH_TOKEN uses the client-credentials "
                "grant, which needs ALIASDESK_OAUTH_CLIENT_SECRET",
            )


def _choice(allowed: tuple[str, ...]) -> Callable[[str], str]:
    def parse(value: str) -> str:
        if value.lower() not in allowed:
            raise ValueError(f'must be one of {" | ".join(allowed)}, got "{value}"')
        return value.lower()

    return parse


def _integer(low: int, high: int) -> Callable[[str], int]:
    def parse(value: str) -> int:
        try:
            number = int(value.replace("_", ""))
        except ValueError:
            raise ValueError(f'must be a whole number, got "{value}"') from None
        if not low <= number <= high:
            raise ValueError(f"must be between {low} and {high}, got {number}")
        return number

    return parse


def _boolean(value: str) -> bool:
    if value.lower() in TRUE_WORDS:
        return True
    if value.lower() in FALSE_WORDS:
        return False
    raise ValueError(f'must be true or false, got "{value}"')


def _url(value: str) -> str:
    if not _URL.match(value):
        raise ValueError(f'must be a URL such as sqlite:///aliasdesk.db, got "{mask_url(value)}"')
    _check_password(value)
    return value


def _check_password(value: str) -> None:
    """A password the drivers would cut short sends them to a wrong host named after a
    piece of it (and into its error message): refused before any connection is made."""
    problem = password_problem(value)
    if problem is not None:
        raise ValueError(f'{problem}, got "{mask_url(value)}"')


def _http_url(value: str) -> str:
    if not value.lower().startswith(("https://", "http://")):
        raise ValueError(f'must be an https:// (or http://) URL, got "{mask_url(value)}"')
    return value


def _broker_url(value: str) -> str:
    if value == "embedded":
        return value
    scheme = value.partition("://")[0].lower() if "://" in value else ""
    if scheme not in BROKER_SCHEMES:
        wanted = "embedded or a redis://, rediss://, amqp:// or amqps:// URL"
        raise ValueError(f'must be {wanted}, got "{mask_url(value)}"')
    _check_password(value)
    return value


def _instance_id(value: str) -> str:
    if not _INSTANCE_ID.fullmatch(value):
        raise ValueError("must be 1 to 64 letters, digits, dots, dashes or underscores")
    return value


def _authserv_id(value: str) -> str:
    """An authserv-id is a host name such as mx.example.com (RFC 8601 §2.5)."""
    value = value.strip().rstrip(".").lower()
    if not _AUTHSERV.fullmatch(value):
        raise ValueError(f'must be a host name such as mx.example.com, got "{value}"')
    return value


def _broker_namespace(value: str) -> str:
    if not _BROKER_NAMESPACE.fullmatch(value):
        raise ValueError(
            "must be 1 to 64 letters, digits, dots, colons, dashes or underscores, "
            "starting with a letter or digit"
        )
    return value


def _log_level(value: str) -> str:
    if value.upper() not in LOG_LEVELS:
        raise ValueError(f'must be one of {" | ".join(LOG_LEVELS)}, got "{value}"')
    return value.upper()
