"""The gateway's loop: wait for mail (IDLE or polling), fetch it in batches, hand each batch to
the intake, and mark on IMAP exactly what the intake says it has committed.

Order matters (see "The flow of one mail"): fetch with PEEK, hand over, and only after the handler
returned, i.e. after its commit, flag or move. A crash anywhere leaves mail unflagged, so it comes
again and the intake's unique keys turn it into a logged duplicate. Nothing is ever lost to avoid
a possible duplicate.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from aliasdesk.services.intake_store import HEADER_LIMIT, cut_batches
from gateway.imap import (
    FetchedMail,
    ImapAuthError,
    ImapConfig,
    ImapError,
    ImapMailbox,
    ImapSecurityError,
)

log = logging.getLogger(__name__)

KnownHighUid = Callable[[str, int], int]
"""(mailbox, uidvalidity) -> highest UID already stored for that key, 0 when none."""

ErrorReporter = Callable[[BaseException], None]
ConnectReporter = Callable[[ImapMailbox], None]

# RFC 2177: servers may drop a client idle for 30 minutes; 25 leaves room for slow clocks.
# Well under the 29 minutes of RFC 2177, and a bound on how long any missed notification
# can delay mail: each re-issue is preceded by a fresh search.
DEFAULT_IDLE_TIMEOUT = 5 * 60.0
DEFAULT_MAX_MAIL_BYTES = 50 * 1024 * 1024


class BatchHandler(Protocol):
    """Stores and processes one batch durably; returns the UIDs that are committed."""

    def __call__(self, mailbox: str, uidvalidity: int, mails: list[FetchedMail]) -> list[int]: ...


@dataclass(frozen=True)
class PassResult:
    """What one pass over the folder did."""

    handed_over: int
    marked: int
    handler_failed: bool


def backoff_delay(failures: int, *, initial: float = 1.0, maximum: float = 60.0) -> float:
    """Exponential backoff with jitter: about 1, 2, 4 ... 60 s.

    The jitter (±25 %) keeps several gateways from hammering a server that just came back in
    lockstep.
    """
    base = min(maximum, initial * 2.0 ** max(0, failures - 1))
    return min(maximum, base * random.uniform(0.75, 1.25))


class MailboxPoller:
    """Drives one folder for one gateway process."""

    def __init__(
        self,
        config: ImapConfig,
        handler: BatchHandler,
        *,
        poll_interval: float,
        batch_size: int = 100,
        max_mail_bytes: int = DEFAULT_MAX_MAIL_BYTES,
        idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
        known_high_uid: KnownHighUid | None = None,
        on_error: ErrorReporter | None = None,
        on_connect: ConnectReporter | None = None,
        backoff_initial: float = 1.0,
        backoff_max: float = 60.0,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.config = config
        self._handler = handler
        self.poll_interval = poll_interval
        self.batch_size = batch_size
        self.max_mail_bytes = max_mail_bytes
        self.idle_timeout = idle_timeout
        self._known_high_uid = known_high_uid
        self._on_error = on_error
        self._on_connect = on_connect
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._mailbox = ImapMailbox(config)
        # Without a database callback, remember what this process handed over (per UIDVALIDITY).
        self._high_water: dict[tuple[str, int], int] = {}
        # Held mail (over max_mail_bytes) stays unmarked in the folder, so every search finds
        # it again: once the intake has it, this process does not fetch its header again.
        self._held: set[tuple[str, int, int]] = set()

    @property
    def mailbox(self) -> ImapMailbox:
        return self._mailbox

    # -- one pass ------------------------------------------------------------------------

    def run_once(self) -> int:
        """Hand over everything waiting now; returns how many mails the handler accepted.

        Raises ImapError when the server cannot be reached or fails; a handler failure is
        reported (on_error and the log) and ends the pass without marking anything.
        """
        return self.run_pass().handed_over

    def run_pass(self) -> PassResult:
        mailbox = self._mailbox
        # Re-selecting on a live session refreshes UIDVALIDITY: the folder may have been
        # deleted and recreated since the last pass (RFC 3501 2.3.1.1).
        uidvalidity = mailbox.select() if mailbox.connected else self._connect()
        key = self.config.mailbox_key
        high = self._high_uid(key, uidvalidity)
        # New mail by UID, plus older mail whose mark got lost (a crash between the intake's
        # commit and our STORE): the intake dedupes the latter.
        pending = sorted(set(mailbox.uids_after(high)) | set(mailbox.unflagged_uids()))
        sizes = mailbox.sizes(pending) if pending else {}
        handed_over = marked = 0
        for batch in self._batches(key, uidvalidity, pending, sizes):
            outcome = self._hand_over(key, uidvalidity, batch, sizes)
            if outcome is None:
                return PassResult(handed_over, marked, handler_failed=True)
            handed_over += outcome[0]
            marked += outcome[1]
        if pending:
            log.info(
                "poller.pass mailbox=%s uidvalidity=%s waiting=%s handed_over=%s marked=%s",
                key,
                uidvalidity,
                len(pending),
                handed_over,
                marked,
            )
        return PassResult(handed_over, marked, handler_failed=False)

    def _connect(self) -> int:
        """Log in afresh; say how mail will be waited for, and tell on_connect."""
        uidvalidity = self._mailbox.connect()
        idle = self._mailbox.has_idle()
        log.info(
            "poller.connected host=%s port=%s wait=%s",
            self.config.host,
            self.config.port,
            "idle" if idle else f"poll every {self.poll_interval}s (server has no IDLE)",
        )
        if self._on_connect is not None:
            try:
                self._on_connect(self._mailbox)
            except Exception:
                log.exception("poller.on_connect_failed")
        return uidvalidity

    def _batches(
        self, key: str, uidvalidity: int, pending: list[int], sizes: dict[int, int]
    ) -> list[list[int]]:
        """Batches cut by count and by bytes, then the held mail not handed over before.

        The server's sizes are known before any body is fetched, and a batch is held in
        memory whole: four 50 MB mails in one would be 200 MB. Vanished mail has no size
        and is left out.
        """
        limit = self.max_mail_bytes
        whole = [uid for uid in pending if uid in sizes and sizes[uid] <= limit]
        held = [uid for uid in pending if sizes.get(uid, 0) > limit]
        held = [uid for uid in held if (key, uidvalidity, uid) not in self._held]
        cuts = cut_batches([sizes[uid] for uid in whole], count=self.batch_size, budget=limit)
        step = self.batch_size
        return [whole[cut] for cut in cuts] + [
            held[i : i + step] for i in range(0, len(held), step)
        ]

    def _fetch(self, uids: list[int], sizes: dict[int, int]) -> list[FetchedMail]:
        """The mails whole, or, for mail over max_mail_bytes, only the start of its header."""
        if all(sizes[uid] <= self.max_mail_bytes for uid in uids):
            return self._mailbox.fetch(uids)
        headers = self._mailbox.fetch_headers(uids, HEADER_LIMIT)
        return [FetchedMail(uid, raw, held_size=sizes[uid]) for uid, raw in headers.items()]

    def _hand_over(
        self, key: str, uidvalidity: int, uids: list[int], sizes: dict[int, int]
    ) -> tuple[int, int] | None:
        """Fetch one batch, give it to the handler, mark what it committed.

        Held mail is never marked (nor moved): it stays in the folder for a human, and is
        only remembered so that it is not handed over again. Returns (handed over, marked),
        or None when the handler failed.
        """
        mails = self._fetch(uids, sizes)
        if not mails:
            return 0, 0
        fetched = {mail.uid for mail in mails}
        held = {mail.uid for mail in mails if mail.held_size is not None}
        count = len(mails)
        started = time.monotonic()
        try:
            committed = self._handler(key, uidvalidity, mails)
        except Exception as exc:
            log.exception(
                "poller.handler_failed mailbox=%s uidvalidity=%s uids=%s-%s count=%s",
                key,
                uidvalidity,
                min(fetched),
                max(fetched),
                count,
            )
            self._report(exc)
            return None
        finally:
            del mails  # keep memory flat on a large backlog: the batch is the handler's now
        self._held.update((key, uidvalidity, uid) for uid in held.intersection(committed))
        done = sorted(fetched.intersection(committed) - held)
        stray = set(committed) - fetched
        if stray:
            log.warning("poller.unknown_uids mailbox=%s uids=%s", key, sorted(stray)[:10])
        self._mailbox.mark_processed(done)
        if done:
            self._note_high(key, uidvalidity, done[-1])
        log.info(
            "poller.batch mailbox=%s uidvalidity=%s fetched=%s committed=%s ms=%.0f",
            key,
            uidvalidity,
            count,
            len(done),
            (time.monotonic() - started) * 1000,
        )
        return count, len(done)

    def _high_uid(self, key: str, uidvalidity: int) -> int:
        remembered = self._high_water.get((key, uidvalidity), 0)
        if self._known_high_uid is None:
            return remembered
        return max(remembered, self._known_high_uid(key, uidvalidity))

    def _note_high(self, key: str, uidvalidity: int, uid: int) -> None:
        if self._known_high_uid is None:
            slot = (key, uidvalidity)
            self._high_water[slot] = max(self._high_water.get(slot, 0), uid)

    # -- the loop ------------------------------------------------------------------------

    def run_forever(self, stop: threading.Event) -> None:
        """Pass, wait, pass again, until ``stop`` is set; survives server restarts."""
        failures = 0
        log.info(
            "poller.start mailbox=%s host=%s port=%s security=%s",
            self.config.mailbox_key,
            self.config.host,
            self.config.port,
            self.config.security,
        )
        try:
            while not stop.is_set():
                try:
                    result = self.run_pass()
                    if result.handler_failed:
                        # The intake could not commit (a database outage, say): back off
                        # instead of idling, or waiting mail would sit until the next wake-up.
                        failures += 1
                        stop.wait(self._delay(failures))
                        continue
                    failures = 0
                    if result.handed_over:
                        # Mail that arrived while this pass ran may have been announced
                        # (EXISTS) in the replies to our own FETCH or STORE, which the server
                        # will not repeat in IDLE: look once more before idling.
                        continue
                    self._wait_for_mail(stop)
                except Exception as exc:
                    # ImapError is the expected case (server down, restarted, connection cut);
                    # anything else is a bug met mid-session, and a fresh session is the best
                    # bet too. Either way the gateway goes on.
                    failures += 1
                    self._mailbox.close()
                    self._after_failure(exc, failures, stop)
        finally:
            self._mailbox.close()
            log.info("poller.stop mailbox=%s", self.config.mailbox_key)

    def _after_failure(self, exc: Exception, failures: int, stop: threading.Event) -> None:
        delay = self._delay(failures)
        # A refused login or TLS failure will not mend itself: an admin must act.
        needs_admin = isinstance(exc, ImapAuthError | ImapSecurityError)
        log.log(
            logging.WARNING if isinstance(exc, ImapError) and not needs_admin else logging.ERROR,
            "poller.imap_error mailbox=%s host=%s port=%s error=%s failures=%s retry_in=%.1f "
            "detail=%r",
            self.config.mailbox_key,
            self.config.host,
            self.config.port,
            type(exc).__name__,
            failures,
            delay,
            str(exc),
            exc_info=not isinstance(exc, ImapError),
        )
        self._report(exc)
        stop.wait(delay)

    def _wait_for_mail(self, stop: threading.Event) -> None:
        """Sleep until there may be new mail; the caller searches again whatever happened."""
        if self._mailbox.has_idle():
            # Re-issued before idle_timeout: RFC 2177 lets servers drop silent clients after
            # 30 minutes, and some middleboxes forget quiet connections sooner.
            self._mailbox.idle_wait(self.idle_timeout, stop=stop)
        else:
            stop.wait(self.poll_interval)

    def _delay(self, failures: int) -> float:
        return backoff_delay(failures, initial=self._backoff_initial, maximum=self._backoff_max)

    def _report(self, exc: BaseException) -> None:
        if self._on_error is None:
            return
        try:
            self._on_error(exc)
        except Exception:
            log.exception("poller.on_error_failed")

    def close(self) -> None:
        self._mailbox.close()
