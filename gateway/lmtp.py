"""LMTP intake: the organisation's MTA hands each mail straight to aliasdesk (RFC 2033).

The MTA (Postfix's ``lmtp:`` transport, Dovecot's LMTP proxy) keeps a mail until we answer
it, so the only promise that matters is the one behind our ``250``: the mail's bytes are
committed to the inbound log first, exactly as the IMAP intake commits what it fetched.
While the database cannot take them, every recipient gets a ``451`` and the MTA keeps the
mail and tries again later; nothing is lost to an outage.

One transaction (MAIL, RCPT…, DATA) is stored once, with the envelope written on top as a
delivering server would (``Return-Path``, one ``Delivered-To`` per recipient), so routing
sees the envelope recipients as Delivered-To (a Bcc to two aliases opens a ticket in each)
and a mail the MTA sends again after a lost answer is the same dedupe key. LMTP wants one
reply per recipient after DATA; all of them share the one commit.

Processing runs after the ``250``, in a thread of its own, through the same pipeline,
dedupe keys and loop rules as IMAP mail, so the same mail arriving both ways (IMAP and LMTP
side by side during a migration) opens one ticket; mail stored but not yet processed when
the process dies is found ``received`` at the next start.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP, Envelope, Session

from aliasdesk.runtime import Runtime
from aliasdesk.services.intake import BATCH, RawMail, process_batch, process_pending, store_raw
from aliasdesk.services.intake_store import cut_batches
from aliasdesk.transport.lifetime import Lifetime
from gateway.poller import backoff_delay

log = logging.getLogger("aliasdesk.lmtp")

LOOPBACK = "127.0.0.1"
LEFTOVER_LOOK = 5.0
"""Seconds between looks for mail stored but not processed (a failed run, a restart)."""
_UNSAFE = re.compile(r"[\x00-\x20\x7f<>]")
_ADDRESS_LIMIT = 320


def envelope_header(mail_from: str, recipients: Sequence[str]) -> bytes:
    """The trace lines a delivering server writes on top of a mail (RFC 5321 §4.4):
    the reverse-path, then one Delivered-To per recipient, in the order given."""
    sender = "" if mail_from == "<>" else mail_from
    lines = [f"Return-Path: <{sender}>"]
    lines.extend(f"Delivered-To: {recipient}" for recipient in recipients)
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


def plain_address(address: str) -> bool:
    """Whether an envelope address can go into a header line as it is: no spaces, no
    control characters, no brackets (nothing that could start a header of its own)."""
    return 0 < len(address) <= _ADDRESS_LIMIT and not _UNSAFE.search(address)


def replies(code: str, recipients: Sequence[str], text: str) -> str:
    """One reply line per recipient, as LMTP requires after DATA (RFC 2033 §4.2)."""
    return "\r\n".join(f"{code} <{recipient}> {text}" for recipient in recipients)


def _first_line(error: BaseException) -> str:
    """The driver's own message, never the statement's parameters (they hold the mail)."""
    text = str(getattr(error, "orig", None) or error).strip()
    return text.splitlines()[0][:200] if text else ""


class _PerRecipientLmtp(LMTP):
    """aiosmtpd's LMTP, except that its own refusals after DATA (too much data, a line too
    long) are repeated for every recipient: a client counting replies must get them all."""

    _in_data = False
    _owed = 0  # replies owed once the 354 went out; before it, DATA gets one reply

    async def smtp_DATA(self, arg: str) -> None:
        self._in_data = True
        try:
            await super().smtp_DATA(arg)
        finally:
            self._in_data, self._owed = False, 0

    async def push(self, status: Any) -> None:
        text = status.decode("utf-8", "replace") if isinstance(status, bytes) else str(status)
        if self._in_data and text.startswith("354") and self.envelope is not None:
            self._owed = len(self.envelope.rcpt_tos)
        elif self._owed > 1 and text[:1] in "45" and "\r\n" not in text:
            await super().push("\r\n".join([text] * self._owed))
            return
        await super().push(status)


class Storing:
    """The aiosmtpd handler: checks the envelope, commits each mail's bytes, answers.

    Database work runs in one thread of its own, so the event loop keeps serving other
    connections while a commit waits on the disk.
    """

    def __init__(self, runtime: Runtime, on_stored: Callable[[int, int], None]) -> None:
        self.runtime = runtime
        self.on_stored = on_stored
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lmtp-store")

    async def handle_MAIL(
        self, _server: SMTP, _session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address != "<>" and not plain_address(address):
            return "553 5.1.7 sender address not accepted"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 2.1.0 OK"

    async def handle_RCPT(
        self, _server: SMTP, _session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if not plain_address(address) or "@" not in address:
            return "553 5.1.3 recipient address not accepted"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, _server: SMTP, _session: Session, envelope: Envelope) -> str:
        recipients = list(envelope.rcpt_tos)
        body = envelope.original_content or b""
        raw = envelope_header(envelope.mail_from or "<>", recipients) + body
        loop = asyncio.get_running_loop()
        started = time.monotonic()
        try:
            inbound_id = await loop.run_in_executor(self._pool, self._store, raw)
        except Exception as error:  # the MTA keeps the mail and tries again later
            log.warning(
                "event=lmtp_deferred recipients=%d error=%s detail=%r",
                len(recipients),
                type(error).__name__,
                _first_line(error),
            )
            return replies("451", recipients, "4.3.0 cannot store the mail now, try again later")
        self.on_stored(inbound_id, len(raw))
        log.info(
            "event=lmtp_stored inbound=%s recipients=%d bytes=%d ms=%.1f",
            inbound_id,
            len(recipients),
            len(raw),
            (time.monotonic() - started) * 1000,
        )
        return replies("250", recipients, f"2.0.0 stored as mail #{inbound_id}")

    def _store(self, raw: bytes) -> int:
        stored = store_raw(
            self.runtime.db, source="lmtp", mailbox="lmtp", uidvalidity=None, mails=[RawMail(raw)]
        )
        return next(iter(stored.values()))

    def close(self) -> None:
        self._pool.shutdown(wait=True)


class Processing:
    """Runs the pipeline over the mail the server just stored, then tells ``after`` so the
    relay hands the jobs on at once.

    The server names what it stored, so a wake-up processes exactly those rows, with no
    search of the inbound log; the search (``process_pending``) runs at start, after a
    failure and every few idle seconds, for whatever a killed process or an outage left
    ``received``.
    """

    def __init__(self, runtime: Runtime, after: Callable[[], None]) -> None:
        self.runtime = runtime
        self.after = after
        self.wake = threading.Event()
        self._lock = threading.Lock()
        self._stored: list[tuple[int, int]] = []  # (inbound id, size) not yet processed
        self._leftovers = True  # at start: what a killed process stored and never processed

    def stored(self, inbound_id: int, size: int) -> None:
        with self._lock:
            self._stored.append((inbound_id, size))
        self.wake.set()

    def run_forever(self, stop: threading.Event) -> None:
        failures = 0
        while not stop.is_set():
            if not self.wake.wait(0 if self._leftovers else LEFTOVER_LOOK):
                self._leftovers = True
            self.wake.clear()
            if stop.is_set():
                return
            try:
                self._process()
                failures = 0
            except Exception as error:  # a database outage: the mail stays ``received``
                failures += 1
                self._leftovers = True
                delay = backoff_delay(failures, maximum=30.0)
                log.warning(
                    "event=lmtp_processing_failed error=%s failures=%d retry_in=%.1f",
                    type(error).__name__,
                    failures,
                    delay,
                )
                stop.wait(delay)

    def _process(self) -> None:
        runtime = self.runtime
        settings = runtime.pipeline_settings
        with self._lock:
            fresh, self._stored = self._stored, []
        results = []
        sizes = [size for _, size in fresh]
        for cut in cut_batches(sizes, count=BATCH, budget=settings.max_mail_bytes):
            ids = [inbound_id for inbound_id, _ in fresh[cut]]
            results.extend(process_batch(runtime.db, ids, runtime.routing.current(), settings))
        if self._leftovers:
            results.extend(process_pending(runtime.db, runtime.routing.current, settings))
            self._leftovers = False
        for result in results:
            log.info(
                "event=mail inbound=%s outcome=%s tickets=%s",
                result.inbound_id,
                result.outcome,
                ",".join(result.ticket_refs),
            )
        if results:
            self.after()


class _LmtpController(Controller):
    def factory(self) -> SMTP:
        return _PerRecipientLmtp(self.handler, **self.SMTP_kwargs)


class LmtpServer(Lifetime):
    """The LMTP listener and its processing thread, for ``aliasdesk lmtp`` and ``run``.

    ``after_processing`` is called whenever mail was processed (the relay's wake-up).
    """

    def __init__(
        self,
        runtime: Runtime,
        port: int,
        *,
        host: str = LOOPBACK,
        after_processing: Callable[[], None] = lambda: None,
    ) -> None:
        self.host, self.port = host, port
        self.processing = Processing(runtime, after_processing)
        self.storing = Storing(runtime, self.processing.stored)
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self.processing.run_forever, args=(self._stop,), name="lmtp-process"
        )
        self._controller = _LmtpController(
            self.storing,
            hostname=host,
            port=port,
            ident="aliasdesk LMTP",
            data_size_limit=runtime.settings.max_mail_bytes,
            decode_data=False,
            enable_SMTPUTF8=True,
        )

    def start(self) -> LmtpServer:
        self._thread.start()
        try:
            self._controller.start()
        except BaseException:
            self.stop()
            raise
        log.info("event=lmtp_listening host=%s port=%s", self.host, self.port)
        return self

    def stop(self) -> None:
        """Stop listening, let a commit under way finish, then stop processing."""
        if self._controller.server is not None:
            self._controller.stop()
        self.storing.close()
        self._stop.set()
        self.processing.wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)
