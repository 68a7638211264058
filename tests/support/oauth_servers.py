"""Real servers for the XOAUTH2 tests: a token endpoint, Dovecot with an oauth2 passdb, and
an aiosmtpd server that accepts only XOAUTH2.

The token endpoint plays the identity provider (Microsoft Entra, Google): it issues access
tokens for the refresh-token and client-credentials grants and answers token introspection
(RFC 7662), which is how Dovecot's ``passdb { driver = oauth2 }`` checks a token. So the IMAP
side is the real thing: Dovecot asks our endpoint whether the bearer token is good.
"""

from __future__ import annotations

import base64
import itertools
import json
import secrets
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, Session

from aliasdesk.transport.lifetime import Lifetime
from gateway.local_servers import ReceivedMail
from tests.support.dovecot import DovecotServer
from tests.support.services import free_port

CLIENT_ID = "aliasdesk-app"
CLIENT_SECRET = "client-secret-value"
REFRESH_TOKEN = "refresh-token-value"
MAILBOX_USER = "desk@example.com"


@dataclass
class TokenRequest:
    """One request to the token endpoint, as the test sees it."""

    grant_type: str
    form: dict[str, str]
    status: int


@dataclass
class _Issued:
    user: str
    expires_at: float
    revoked: bool = False


@dataclass
class TokenEndpoint(Lifetime):
    """An OAuth2 token endpoint and introspection endpoint on 127.0.0.1.

    ``POST /token`` answers both grants for the one known client; ``POST /introspect``
    (form field ``token``) answers ``{"active": true, "email": user}`` for a live token.
    ``expires_in`` is what new tokens get; ``revoke()`` kills a token before its time.
    """

    user: str = MAILBOX_USER
    expires_in: int = 3600
    requests: list[TokenRequest] = field(default_factory=list)
    introspections: list[str] = field(default_factory=list)
    _issued: dict[str, _Issued] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None
    _counter: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def url(self) -> str:
        assert self._server is not None, "not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}/token"

    @property
    def introspection_url(self) -> str:
        return self.url.replace("/token", "/introspect")

    @property
    def issued(self) -> list[str]:
        with self._lock:
            return list(self._issued)

    def grants(self) -> list[str]:
        with self._lock:
            return [r.grant_type for r in self.requests if r.status == 200]

    def revoke(self, token: str) -> None:
        with self._lock:
            self._issued[token].revoked = True

    def is_valid(self, user: str, token: str) -> bool:
        with self._lock:
            issued = self._issued.get(token)
            return (
                issued is not None
                and not issued.revoked
                and issued.user == user
                and issued.expires_at > time.time()
            )

    def start(self) -> None:
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
                if self.path == "/token":
                    status, body = endpoint._token(form)
                elif self.path == "/introspect":
                    status, body = endpoint._introspect(form.get("token", ""))
                else:
                    status, body = 404, {"error": "not_found"}
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep pytest's output clean

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()

    def _token(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        grant = form.get("grant_type", "")
        status, body = self._check_client(form, grant)
        if status == 200:
            token = f"at-{next(self._counter)}-{secrets.token_hex(8)}"
            with self._lock:
                self._issued[token] = _Issued(self.user, time.time() + self.expires_in)
            body = {"access_token": token, "token_type": "Bearer", "expires_in": self.expires_in}
        with self._lock:
            self.requests.append(TokenRequest(grant, dict(form), status))
        return status, body

    def _check_client(self, form: dict[str, str], grant: str) -> tuple[int, dict[str, Any]]:
        if form.get("client_id") != CLIENT_ID:
            return 401, {"error": "invalid_client"}
        if grant == "refresh_token":
            if form.get("refresh_token") != REFRESH_TOKEN:
                return 400, {"error": "invalid_grant", "error_description": "token revoked"}
            return 200, {}
        if grant == "client_credentials":
            if form.get("client_secret") != CLIENT_SECRET:
                return 401, {"error": "invalid_client"}
            return 200, {}
        return 400, {"error": "unsupported_grant_type"}

    def _introspect(self, token: str) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.introspections.append(token)
        if self.is_valid(self.user, token):
            return 200, {"active": True, "email": self.user}
        return 200, {"active": False}


_OAUTH_PASSDB = """
# A refused token is answered at once: the tests refuse on purpose.
auth_failure_delay = 0
auth_mechanisms = plain login xoauth2 oauthbearer
passdb {{
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {root}/oauth2.conf.ext
}}
"""

_OAUTH_BACKEND = """\
introspection_mode = post
introspection_url = {url}
force_introspection = yes
username_attribute = email
active_attribute = active
active_value = true
timeout_msecs = 5000
"""


class DovecotOAuthServer(DovecotServer):
    """Dovecot whose mailbox user signs in with XOAUTH2, checked against ``endpoint``.

    PLAIN stays on for the test's own APPENDs (``client()``), so the log shows the method of
    every login and a test can tell aliasdesk's XOAUTH2 logins from the helper's.
    """

    def __init__(self, endpoint: TokenEndpoint) -> None:
        self.endpoint = endpoint
        super().__init__(username=endpoint.user, password="helper-only-password")

    def _write_config(self) -> None:
        super()._write_config()
        (self.root / "oauth2.conf.ext").write_text(
            _OAUTH_BACKEND.format(url=self.endpoint.introspection_url)
        )
        text = self.config_path.read_text().replace("auth_mechanisms = plain login\n", "")
        self.config_path.write_text(text + _OAUTH_PASSDB.format(root=self.root))

    def logins(self, method: str) -> int:
        """How many logins with ``method`` (XOAUTH2, PLAIN) Dovecot has logged."""
        log = (self.root / "dovecot.log").read_text(errors="replace")
        return sum(
            1 for line in log.splitlines() if "Login: user=" in line and f"method={method}" in line
        )


class _XOAuth2Handler:
    """aiosmtpd handler: XOAUTH2 checked against the token endpoint, password logins
    recorded and refused, mail kept for the test."""

    def __init__(self, endpoint: TokenEndpoint) -> None:
        self.endpoint = endpoint
        self.messages: list[ReceivedMail] = []
        self.xoauth2_attempts: list[tuple[str, bool]] = []
        self.password_attempts: list[str] = []

    async def auth_XOAUTH2(self, server: SMTP, args: list[str]) -> AuthResult:
        if len(args) > 1:
            blob = base64.b64decode(args[1])
        else:
            answer = await server.challenge_auth("", encode_to_b64=False)
            if not isinstance(answer, bytes):
                return AuthResult(success=False, handled=True)
            blob = answer
        user, token = _parse_xoauth2(blob)
        good = self.endpoint.is_valid(user, token)
        self.xoauth2_attempts.append((user, good))
        if good:
            return AuthResult(success=True, auth_data=user)
        # Google's flow: the error as a base64 JSON challenge, the client sends an empty
        # line, then the final refusal.
        error = json.dumps({"status": "401", "schemes": "Bearer", "scope": "mail"})
        await server.challenge_auth(error)
        return AuthResult(
            success=False, handled=False, message="535 5.7.8 Username and token not accepted"
        )

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        """The built-in PLAIN/LOGIN mechanisms end here: recorded, always refused."""
        self.password_attempts.append(mechanism)
        return AuthResult(success=False)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        data = envelope.original_content or b""
        self.messages.append(
            ReceivedMail(str(envelope.mail_from), [str(r) for r in envelope.rcpt_tos], data)
        )
        return "250 accepted"


def _parse_xoauth2(blob: bytes) -> tuple[str, str]:
    fields = dict(
        part.split("=", 1) for part in blob.decode(errors="replace").split("\x01") if "=" in part
    )
    auth = fields.get("auth", "")
    return fields.get("user", ""), auth.removeprefix("Bearer ")


class XOAuth2SmtpServer(Lifetime):
    """aiosmtpd on loopback that requires AUTH and offers XOAUTH2 (plus refused PLAIN/LOGIN)."""

    def __init__(self, endpoint: TokenEndpoint) -> None:
        self.handler = _XOAuth2Handler(endpoint)
        self.host = "127.0.0.1"
        self.port = free_port()
        self._controller = Controller(
            self.handler,
            hostname=self.host,
            port=self.port,
            auth_required=True,
            auth_require_tls=False,  # loopback only; TLS is the mailer tests' business
            authenticator=self.handler.authenticate,
        )

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()


__all__ = [
    "CLIENT_ID",
    "CLIENT_SECRET",
    "MAILBOX_USER",
    "REFRESH_TOKEN",
    "DovecotOAuthServer",
    "TokenEndpoint",
    "XOAuth2SmtpServer",
]
