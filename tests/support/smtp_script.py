"""A real aiosmtpd server whose answers a test can script.

Runs in its own thread and event loop on a free port. By default it accepts everything
and keeps what it received; a test can make the next MAIL/RCPT/DATA answer with a given
reply ("451 4.3.0 Try again later"), refuse one address for good, or drop the connection
instead of answering DATA. It counts connections so tests can see reuse.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import ssl
import threading
from collections import deque
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from aliasdesk.transport.lifetime import Lifetime

DROP = "drop"
STALL = "stall"


@dataclass
class Received:
    """One mail the server accepted."""

    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    tls: bool

    def parsed(self) -> EmailMessage:
        message = email.message_from_bytes(self.data, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        return message


def mails_of_kind(server: ScriptedSmtpServer, kind: str) -> list[EmailMessage]:
    """The mails of one notification kind the server got, parsed: the kind is named in
    the Message-ID aliasdesk gives every mail."""
    mails = [item.parsed() for item in server.handler.received]
    return [mail for mail in mails if f".{kind}." in str(mail["Message-ID"])]


@dataclass
class ScriptedHandler:
    """aiosmtpd handler: answers from the script first, then "250"."""

    received: list[Received] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    connections: int = 0
    script: dict[str, deque[str]] = field(default_factory=dict)
    refuse: dict[str, str] = field(default_factory=dict)
    by_content: list[tuple[bytes, str | float]] = field(default_factory=list)

    def answer_mail_containing(self, marker: bytes, answer: str | float) -> None:
        """The next mail whose bytes contain ``marker``: DATA answers ``answer`` instead of
        accepting it (a reply, or DROP), or, given seconds, is accepted that much later."""
        self.by_content.append((marker, answer))

    def _by_content(self, data: bytes) -> str | float | None:
        for position, (marker, answer) in enumerate(self.by_content):
            if marker in data:
                del self.by_content[position]
                return answer
        return None

    def fail_next(self, stage: str, reply: str, times: int = 1) -> None:
        """The next ``times`` MAIL/RCPT/DATA commands answer ``reply`` (or DROP)."""
        self.script.setdefault(stage.upper(), deque()).extend([reply] * times)

    def _scripted(self, stage: str) -> str | None:
        queue = self.script.get(stage)
        return queue.popleft() if queue else None

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        self.commands.append(f"MAIL {address}")
        reply = self._scripted("MAIL")
        if reply is not None:
            return await self._answer(server, reply)
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        self.commands.append(f"RCPT {address}")
        reply = self._scripted("RCPT") or self.refuse.get(address)
        if reply is not None:
            return await self._answer(server, reply)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.commands.append("DATA")
        reply = self._scripted("DATA")
        if reply is not None:
            return await self._answer(server, reply)
        data = envelope.original_content or b""
        special = self._by_content(data)
        if isinstance(special, str):
            return await self._answer(server, special)
        if special is not None:
            await asyncio.sleep(special)
        self.received.append(
            Received(
                str(envelope.mail_from), list(envelope.rcpt_tos), data, session.ssl is not None
            )
        )
        return f"250 2.0.0 Queued as test-{len(self.received)}"

    @staticmethod
    async def _answer(server: SMTP, reply: str) -> str:
        if reply == STALL:  # never answer: the client's timeout has to fire
            await asyncio.sleep(3600)
        if reply == DROP:
            transport = server.transport
            assert isinstance(transport, asyncio.Transport)
            transport.abort()
            return "451 dropped"  # never reaches the client: the socket is gone
        return reply


class ScriptedSmtpServer(Lifetime):
    """aiosmtpd on 127.0.0.1 and a free port, in a background thread."""

    def __init__(
        self,
        handler: ScriptedHandler | None = None,
        *,
        tls_context: ssl.SSLContext | None = None,
        implicit_tls: ssl.SSLContext | None = None,
        credentials: tuple[str, str] | None = None,
    ) -> None:
        self.handler = handler or ScriptedHandler()
        self._credentials = credentials
        self._tls_context = tls_context
        self._implicit_tls = implicit_tls
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.base_events.Server | None = None
        self.port = 0

    def _factory(self) -> SMTP:
        handler = self.handler
        starttls = self._tls_context

        class CountingSMTP(SMTP):
            def connection_made(self, transport: Any) -> None:
                handler.connections += 1
                super().connection_made(transport)

        return CountingSMTP(
            handler,
            hostname="smtp.test",
            tls_context=starttls,
            loop=self._loop,
            timeout=30,
            authenticator=self._authenticate if self._credentials else None,
            auth_require_tls=False,
        )

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        expected = self._credentials
        ok = (
            expected is not None
            and isinstance(data, LoginPassword)
            and (data.login.decode(), data.password.decode()) == expected
        )
        return AuthResult(success=ok, handled=False)

    def start(self) -> ScriptedSmtpServer:
        self._thread.start()
        coroutine = self._loop.create_server(self._factory, "127.0.0.1", 0, ssl=self._implicit_tls)
        server = asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(10)
        self._server = server
        self.port = server.sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        async def shutdown() -> None:
            if self._server is not None:
                self._server.close()

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
