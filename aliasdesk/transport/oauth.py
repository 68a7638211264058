"""OAuth2 access tokens for XOAUTH2 logins to IMAP and SMTP (Microsoft 365, Google).

Both providers are retiring password logins for mailboxes, so a service account signs in
with a short-lived access token instead. The token comes from the provider's token
endpoint (RFC 6749 §3.2), either with a long-lived refresh token an admin obtained once
(§6, the "refresh_token" grant) or, for app-only access, with the client's own secret
(§4.4, "client_credentials"). The token is cached until shortly before ``expires_in``
runs out, so a poller that reconnects every few seconds asks the endpoint once an hour,
not once a connection. After a server refuses a token, the caller calls
:meth:`TokenProvider.invalidate` and asks again once: the token may have been revoked
before it expired.

Secrets never reach a log or an error message: errors carry the endpoint (without any
password in it), the HTTP status and the provider's ``error`` code only.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aliasdesk.settings.env import Settings, mask_url

log = logging.getLogger("aliasdesk.oauth")

EXPIRY_MARGIN = 60.0
"""Seconds before ``expires_in`` runs out at which a cached token counts as expired: a token
handed out must still be good when the server checks it, after a slow TLS handshake."""

DEFAULT_LIFETIME = 3600.0
"""Assumed lifetime when the endpoint leaves ``expires_in`` out (RFC 6749 §5.1: RECOMMENDED,
not required); both big providers issue one-hour tokens."""


class OAuthError(Exception):
    """A token could not be had; ``status`` is the HTTP status and ``code`` the provider's
    ``error`` field (``invalid_grant``: the refresh token was revoked, ask an admin)."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None):
        super().__init__(message)
        self.status = status
        self.code = code


@dataclass(frozen=True)
class OAuthClient:
    """Where tokens come from and who asks; the secrets are left out of ``repr``."""

    token_url: str
    client_id: str
    client_secret: str | None = field(default=None, repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    scope: str | None = None

    @property
    def grant_type(self) -> str:
        return "refresh_token" if self.refresh_token else "client_credentials"

    def form(self) -> dict[str, str]:
        """The form fields of a token request (RFC 6749 §6 and §4.4.2)."""
        fields = {"grant_type": self.grant_type, "client_id": self.client_id}
        if self.client_secret:
            fields["client_secret"] = self.client_secret
        if self.refresh_token:
            fields["refresh_token"] = self.refresh_token
        if self.scope:
            fields["scope"] = self.scope
        return fields


class TokenProvider:
    """Hands out a valid access token, fetching a new one only when needed.

    Callable with no arguments (``provider()``), which is all the IMAP and SMTP adapters
    need. Thread-safe: the gateway and the delivery workers may share one instance, and
    only one of them fetches while the others wait for the result.
    """

    def __init__(
        self,
        client: OAuthClient,
        *,
        timeout: float = 15.0,
        margin: float = EXPIRY_MARGIN,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.timeout = timeout
        self.margin = margin
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires_at = 0.0
        self._refresh_token = client.refresh_token
        self.fetches = 0

    def __repr__(self) -> str:
        return f"TokenProvider({mask_url(self.client.token_url)}, grant={self.client.grant_type})"

    def __call__(self) -> str:
        """A token good for at least ``margin`` more seconds; raises :class:`OAuthError`."""
        with self._lock:
            if self._token is None or self._clock() >= self._expires_at - self.margin:
                self._token, lifetime = self._fetch()
                self._expires_at = self._clock() + lifetime
            return self._token

    def invalidate(self) -> None:
        """Forget the cached token: a server refused it, so the next call fetches anew."""
        with self._lock:
            self._token = None

    def _fetch(self) -> tuple[str, float]:
        form = self.client.form()
        if self._refresh_token:
            form["refresh_token"] = self._refresh_token
        body = _post_form(self.client.token_url, form, self.timeout)
        self.fetches += 1
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            raise OAuthError(f"{self._where()}: the answer has no access_token")
        # Microsoft and others may rotate the refresh token (RFC 6749 §6): keep the newest,
        # or the next refresh is refused once the old one is retired.
        rotated = body.get("refresh_token")
        if isinstance(rotated, str) and rotated and self._refresh_token:
            self._refresh_token = rotated
        lifetime = _lifetime(body.get("expires_in"))
        log.info(
            "event=oauth_token grant=%s expires_in=%d endpoint=%s",
            self.client.grant_type,
            lifetime,
            mask_url(self.client.token_url),
        )
        return token, lifetime

    def _where(self) -> str:
        return f"token endpoint {mask_url(self.client.token_url)}"


def _post_form(url: str, form: dict[str, str], timeout: float) -> dict[str, Any]:
    """POST ``form`` urlencoded, return the JSON object answered; errors without secrets."""
    where = f"token endpoint {mask_url(url)}"
    request = urllib.request.Request(
        url,
        data=urllib.parse.urlencode(form).encode("ascii"),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
        },
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return _json_object(response.read(), where)
    except urllib.error.HTTPError as error:
        code, description = _error_fields(error.read())
        detail = f": {code}" + (f" ({description})" if description else "") if code else ""
        raise OAuthError(
            f"{where} refused the request with HTTP {error.code}{detail}",
            status=error.code,
            code=code,
        ) from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise OAuthError(f"{where} cannot be reached: {reason}") from None


def _json_object(raw: bytes, where: str) -> dict[str, Any]:
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise OAuthError(f"{where}: the answer is not JSON") from None
    if not isinstance(body, dict):
        raise OAuthError(f"{where}: the answer is not a JSON object")
    return body


def _error_fields(raw: bytes) -> tuple[str | None, str | None]:
    """The provider's ``error`` and ``error_description`` (RFC 6749 §5.2), if it sent JSON.

    The description is cut short: some providers echo a whole trace into it.
    """
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None, None
    if not isinstance(body, dict):
        return None, None
    code, description = body.get("error"), body.get("error_description")
    return (
        code if isinstance(code, str) else None,
        description[:200] if isinstance(description, str) else None,
    )


def _lifetime(expires_in: object) -> float:
    try:
        seconds = float(expires_in)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return DEFAULT_LIFETIME
    return seconds if seconds > 0 else DEFAULT_LIFETIME


def xoauth2_response(user: str, token: str) -> bytes:
    """The XOAUTH2 initial client response, base64-encoded as SMTP AUTH sends it.

    ``user=<u>^Aauth=Bearer <token>^A^A`` (the SASL format Google and Microsoft document;
    RFC 7628's OAUTHBEARER is the standard cousin).
    """
    return base64.b64encode(f"user={user}\x01auth=Bearer {token}\x01\x01".encode())


def token_provider_from_settings(settings: Settings) -> TokenProvider | None:
    """One provider for the process when IMAP or SMTP uses oauth2; None otherwise.

    Settings have already checked that the endpoint and client are there.
    """
    if not settings.uses_oauth:
        return None
    if not settings.oauth_token_url or not settings.oauth_client_id:
        raise OAuthError("oauth2 needs ALIASDESK_OAUTH_TOKEN_URL and ALIASDESK_OAUTH_CLIENT_ID")
    return TokenProvider(
        OAuthClient(
            token_url=settings.oauth_token_url,
            client_id=settings.oauth_client_id,
            client_secret=settings.oauth_client_secret,
            refresh_token=settings.oauth_refresh_token,
            scope=settings.oauth_scope,
        )
    )


def invalidate(provider: Callable[[], str]) -> None:
    """Tell ``provider`` its last token was refused, if it caches tokens at all.

    The adapters accept any ``Callable[[], str]`` (a test may pass a lambda), so the
    cache is dropped only where there is one.
    """
    drop = getattr(provider, "invalidate", None)
    if callable(drop):
        drop()
