"""Send from synchronous code over a small pool of reused SMTP connections.

Dramatiq actors and the CLI are synchronous, and most of an SMTP send is spent waiting
for the server's replies; so ``SyncSmtpMailer`` runs ``SmtpMailer``s on a private event
loop and spreads a batch over a few of them. Kept apart from ``mailer`` so that the
single-connection client stays about SMTP alone: a pool member is used only through
``SmtpMailer.checked_recipients``, ``SmtpMailer.connection`` and ``sibling``.
Import from ``aliasdesk.notify.mailer``, which re-exports these names.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Awaitable, Coroutine, Sequence
from concurrent.futures import Future
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol, TypeVar

from aliasdesk.notify.delivery_errors import (
    DeliveryError,
    TransientDeliveryError,
    as_delivery_error,
)
from aliasdesk.transport.lifetime import Lifetime

T = TypeVar("T")

Item = tuple[str, Sequence[str], bytes]
"""One mail for ``send_many``: envelope sender, envelope recipients, complete bytes."""


class HeldConnection(Protocol):
    """A pool member's connection while one caller holds it."""

    async def send(self, sender: str, targets: list[str], message: bytes) -> str: ...


class PoolMember(Protocol):
    """What the pool needs of an SMTP client. ``SmtpMailer`` is one; naming it here would
    make this module and ``mailer`` (which re-exports this one) import each other."""

    connections_opened: int

    def checked_recipients(self, sender: str, recipients: Sequence[str]) -> list[str]: ...

    def connection(self) -> AbstractAsyncContextManager[HeldConnection]: ...

    def sibling(self) -> PoolMember: ...

    async def send(self, sender: str, recipients: Sequence[str], message: bytes) -> str: ...

    async def close(self) -> None: ...


async def _reply_or_error(sending: Awaitable[str]) -> str | DeliveryError:
    """The server's reply, or the error as a batch reports it for that mail."""
    try:
        return await sending
    except Exception as error:
        return as_delivery_error(error)


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

    async def run(self, members: Sequence[PoolMember]) -> list[str | DeliveryError]:
        await asyncio.gather(*(self._work(member) for member in members))
        fallback = self.connect_error or TransientDeliveryError(None, "no connection to send on")
        return [fallback if result is None else result for result in self.results]

    async def _work(self, member: PoolMember) -> None:
        """Send waiting mails on ``member`` until none is left or it cannot connect."""
        while self.waiting:
            index = self.waiting.popleft()
            sender, recipients, message = self.items[index]
            try:
                targets = member.checked_recipients(sender, recipients)
            except Exception as error:
                self.results[index] = as_delivery_error(error)
                continue
            try:
                async with member.connection() as connection:
                    sending = connection.send(sender, targets, message)
                    self.results[index] = await _reply_or_error(sending)
            except Exception as error:  # only entering raises: no connection to be had
                self.waiting.appendleft(index)
                self.connect_error = as_delivery_error(error)
                return


class SyncSmtpMailer(Lifetime):
    """``SmtpMailer`` for synchronous callers (Dramatiq actors, the CLI).

    A private event loop runs in a daemon thread for the mailer's whole life, so the SMTP
    connections survive between calls. ``send`` uses the first connection; ``send_many``
    spreads a batch over up to ``connections`` of them, because most of a send is spent
    waiting for the server's replies. Each connection is opened when first needed and
    carries one transaction at a time, however many threads call in.
    """

    def __init__(self, mailer: PoolMember, *, connections: int = 4) -> None:
        if connections < 1:
            raise ValueError("connections must be at least 1")
        self.mailer = mailer
        self._size = connections
        self._pool: list[PoolMember] = [mailer]  # grown only inside the loop, so no lock is needed
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

    def start(self) -> None:
        """Nothing to open ahead: connections are made by the first mails sent."""

    stop = close  # leaving a ``with`` block closes every connection

    async def _send_many(self, items: Sequence[Item]) -> list[str | DeliveryError]:
        while len(self._pool) < min(self._size, len(items)):
            self._pool.append(self.mailer.sibling())
        return await _Batch(items).run(self._pool[: len(items)])

    async def _close_all(self) -> None:
        await asyncio.gather(*(member.close() for member in self._pool))

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        future: Future[T] = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        return future.result()
