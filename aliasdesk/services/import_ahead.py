"""The second core of ``aliasdesk import``: a helper process reads the mail ahead.

An import is one process bound to one core, and parsing a mail and classifying the
language of its text were a third of its time; both read nothing but the mail's bytes.
So one helper process (spawned, never forked: the importer holds database connections)
parses each batch and classifies the text a ticket opened from it would carry, a batch
or two ahead of the writer. The importer hands the parses to the pipeline instead of
parsing again, and the classifications to the owner assignments (``detect_ahead``),
keyed by the text itself: whether a ticket's language is detected at all is decided
there exactly as before, and a ticket whose text turned out otherwise (a forwarded
request, a reopened one) is classified in the importer as before.

The helper is an accelerator only. When it cannot start, or dies (killed, or a mail
crashed the parser's process), one line is logged and the importer parses and
classifies in its own process, as it did before there was a helper; a batch the helper
had not returned is parsed there too. Nothing the helper computes is stored, so a kill
of either process leaves the import exactly as resumable as without one.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context, parent_process
from multiprocessing.connection import wait

from aliasdesk.collector import settle_after_start_up
from aliasdesk.domain.filing import ticket_subject
from aliasdesk.mail.machine import mail_signals
from aliasdesk.mail.model import ParsedMail
from aliasdesk.mail.parse import parse_mail
from aliasdesk.services.language_detection import detect_language, text_key, warm_up

log = logging.getLogger("aliasdesk.import")

Read = tuple[ParsedMail, int, str | None]
"""What the helper returns for one mail: its parse, the key of its opening text, and
that text's detected language."""


def opening_text(mail: ParsedMail) -> str:
    """The text a ticket opened from ``mail`` is classified by (``_request_text`` in
    services/languages.py): its subject as the ticket stores it, then the mail's text."""
    return f"{ticket_subject(mail.subject)}\n{mail.text}"


def read_mails(raws: Sequence[bytes], max_attachment_bytes: int) -> list[Read]:
    """In the helper: each mail parsed as the pipeline parses it, with the machine-mail
    signals it carries, and its opening text classified as the owner assignment would
    classify it."""
    read: list[Read] = []
    for raw in raws:
        mail = parse_mail(raw, max_attachment_bytes=max_attachment_bytes)
        mail.signals = mail_signals(mail)
        text = opening_text(mail)
        read.append((mail, text_key(text), detect_language(text)))
    return read


def _start() -> None:
    """In the helper, while the importer surveys the source: the imports and the language
    model loaded before the first batch arrives."""
    warm_up()
    settle_after_start_up()


def _follow_parent() -> None:
    """In the helper, first: it ends when the importer does, however that ends. A helper
    whose importer was killed (kill -9) would otherwise wait for work for ever, as it
    holds both ends of its own work queue."""
    parent = parent_process()
    if parent is None:
        return

    def watch() -> None:
        wait([parent.sentinel])
        os._exit(0)

    threading.Thread(target=watch, name="follow-importer", daemon=True).start()


PART = 10
"""Mails the helper is given at a time. A batch goes in parts so that the importer can
take back the parts the helper has not begun when it needs the batch (a helper slowed
by other work on the machine): it parses those itself instead of waiting. It still
waits for the two parts the helper holds at a time: with parts of 25 that was 1.1 s of
a 5,000-mail import, with 10 about 0.6 s (and 0.5 s less in all)."""


@dataclass
class Pending:
    """A batch given to the helper, part by part: each part's digests, in the order
    sent, and what the helper makes of them (None: not sent)."""

    parts: list[tuple[list[str], Future[list[Read]] | None]]


@dataclass
class ReadAhead:
    """The helper process and what it has classified so far (text key -> language)."""

    max_attachment_bytes: int
    languages: dict[int, str | None] = field(default_factory=dict)
    pool: ProcessPoolExecutor | None = None
    lost: bool = False

    def start(self) -> None:
        try:
            self.pool = ProcessPoolExecutor(
                max_workers=1, mp_context=get_context("spawn"), initializer=_follow_parent
            )
            self.pool.submit(_start)
        except Exception as error:  # any failure: the import goes on without
            self._give_up(error)

    def submit(self, mails: dict[str, bytes]) -> Pending:
        """Send a batch (digest -> bytes) to be read; a no-op once the helper is gone."""
        digests, raws = list(mails), list(mails.values())
        return Pending(
            [
                (digests[start : start + PART], self._send(raws[start : start + PART]))
                for start in range(0, len(raws), PART)
            ]
        )

    def _send(self, raws: list[bytes]) -> Future[list[Read]] | None:
        if self.pool is None:
            return None
        try:
            return self.pool.submit(read_mails, raws, self.max_attachment_bytes)
        except Exception as error:
            self._give_up(error)
            return None

    def collect(self, pending: Pending) -> dict[str, ParsedMail]:
        """The batch's parses by digest. Parts the helper has not begun are taken back
        (cancelled), the others waited for; what is missing, taken back or lost with
        the helper, the pipeline's own read-ahead parses."""
        for _digests, future in pending.parts:
            if future is not None:
                future.cancel()  # only a part not yet begun is cancelled
        parsed: dict[str, ParsedMail] = {}
        for digests, future in pending.parts:
            if future is None or future.cancelled():
                continue
            try:
                read = future.result()
            except Exception as error:
                self._give_up(error)
                continue
            for digest, (mail, key, language) in zip(digests, read, strict=True):
                parsed.setdefault(digest, mail)
                self.languages[key] = language
        return parsed

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None

    def _give_up(self, error: BaseException) -> None:
        """Said once: the batches already given to a dead helper fail one by one."""
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)
        self.pool = None
        if self.lost:
            return
        self.lost = True
        log.warning(
            "event=import_helper_lost error=%s: %s; parsing and detecting languages in "
            "the importing process from here on",
            type(error).__name__,
            error,
        )
