"""The routing rules in force, re-read when the file changes (CONTRACT §2).

A file that does not validate is refused with its file:line:field messages in the log and
the last valid rules stay in force; the process never stops over a bad edit. The refusal is
also kept (``refusal``) so the relay can tell the admins of the rules still in force
(aliasdesk.services.alerts): a refused edit otherwise goes unnoticed, because nothing breaks.

Under ``run --processes N`` the process an admin starts keeps a copy of the version in
force (``keep``), and its job processes start from that copy (``fallback``) when the file
is broken by the time they start: they run with the same rules instead of refusing to
start, and leave reporting the refusal to that one process (``report_refusals``).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from aliasdesk.domain.organisation import RoutingConfig
from aliasdesk.settings.errors import RoutingFileError
from aliasdesk.settings.routing_file import load_routing

log = logging.getLogger("aliasdesk.routing")


@dataclass(frozen=True)
class Refusal:
    """One refused version of the routing file.

    ``digest`` names that version (its bytes and modification time), identically in every
    process that reads it, so the gateway and the workers raise one alert between them.
    """

    error: RoutingFileError
    digest: str
    at: datetime

    @property
    def problems(self) -> tuple[str, ...]:
        return tuple(str(problem) for problem in self.error.errors)


class RoutingHolder:
    def __init__(
        self,
        path: Path,
        *,
        check_every: float = 1.0,
        on_refused: Callable[[RoutingFileError], None] | None = None,
        keep: Path | None = None,
        fallback: Path | None = None,
        report_refusals: bool = True,
    ) -> None:
        self.path = Path(path)
        self.check_every = check_every
        self.on_refused = on_refused
        self.on_loaded: Callable[[str], None] | None = None
        """Told the digest of each version taken into force (the gateway records it)."""
        self.keep = keep
        self.report_refusals = report_refusals
        self._lock = threading.Lock()
        self._stamp = self._file_stamp()
        self.digest, self._config = self._first_version(fallback)
        self._keep(self.digest)
        self._checked = time.monotonic()
        self.refused: RoutingFileError | None = None
        self.refusal: Refusal | None = None

    def _first_version(self, fallback: Path | None) -> tuple[str, RoutingConfig]:
        """The file's rules; raises at start-up (refuse to run) unless a ``fallback`` holds
        the version another process has in force, which then stays in force here until the
        file changes."""
        digest = content_digest(self.path)
        try:
            return digest, load_routing(self.path)
        except RoutingFileError:
            if fallback is None:
                raise
        return content_digest(fallback), load_routing(fallback)

    def _keep(self, digest: str) -> None:
        """Copy the version just taken into force to ``keep`` (replaced whole, never half
        written), unless the file changed since it was read."""
        if self.keep is None:
            return
        try:
            data = self.path.read_bytes()
            if hashlib.sha256(data).hexdigest() != digest:
                return
            staged = self.keep.with_name(self.keep.name + ".new")
            staged.write_bytes(data)
            staged.replace(self.keep)
        except OSError:
            log.warning("event=routing_copy_failed path=%s", self.keep, exc_info=True)

    def _file_stamp(self) -> tuple[float, int]:
        try:
            info = self.path.stat()
        except OSError:
            return (0.0, -1)
        return (info.st_mtime, info.st_size)

    def _digest(self, stamp: tuple[float, int]) -> str:
        hasher = hashlib.sha256(repr(stamp).encode())
        try:
            hasher.update(self.path.read_bytes())
        except OSError:
            hasher.update(b"(unreadable)")
        return hasher.hexdigest()[:16]

    def current(self) -> RoutingConfig:
        now = time.monotonic()
        if now - self._checked >= self.check_every:
            self._checked = now
            stamp = self._file_stamp()
            if stamp != self._stamp:
                self._reload(stamp)
        return self._config

    def _reload(self, stamp: tuple[float, int]) -> None:
        with self._lock:
            self._stamp = stamp
            try:
                digest = content_digest(self.path)
                config = load_routing(self.path)
            except RoutingFileError as error:
                self.refused = error
                self.refusal = Refusal(error, self._digest(stamp), datetime.now(UTC))
                level = logging.ERROR if self.report_refusals else logging.DEBUG
                for problem in error.errors:
                    log.log(level, "event=routing_refused %s", problem)
                if self.on_refused is not None:
                    self.on_refused(error)
                return
            self._config = config
            self.digest = digest
            self.refused = None
            self.refusal = None
            self._keep(digest)
            if self.on_loaded is not None:
                self.on_loaded(digest)
            log.info(
                "event=routing_reloaded path=%s departments=%d", self.path, len(config.departments)
            )


def content_digest(path: Path) -> str:
    """The identity of a version by its bytes alone, comparable across processes (unlike
    ``Refusal.digest``, which also names the modification time)."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return "(unreadable)"
