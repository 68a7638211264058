"""The routing rules in force, re-read when the file changes (CONTRACT §2).

A file that does not validate is refused with its file:line:field messages in the log and
the last valid rules stay in force; the process never stops over a bad edit.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from aliasdesk.domain.organisation import RoutingConfig
from aliasdesk.settings.errors import RoutingFileError
from aliasdesk.settings.routing_file import load_routing

log = logging.getLogger("aliasdesk.routing")


class RoutingHolder:
    def __init__(
        self,
        path: Path,
        *,
        check_every: float = 1.0,
        on_refused: Callable[[RoutingFileError], None] | None = None,
    ) -> None:
        self.path = Path(path)
        self.check_every = check_every
        self.on_refused = on_refused
        self._lock = threading.Lock()
        self._config = load_routing(self.path)  # raises at start-up: refuse to run
        self._stamp = self._file_stamp()
        self._checked = time.monotonic()
        self.refused: RoutingFileError | None = None

    def _file_stamp(self) -> tuple[float, int]:
        try:
            info = self.path.stat()
        except OSError:
            return (0.0, -1)
        return (info.st_mtime, info.st_size)

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
                config = load_routing(self.path)
            except RoutingFileError as error:
                self.refused = error
                for problem in error.errors:
                    log.error("event=routing_refused %s", problem)
                if self.on_refused is not None:
                    self.on_refused(error)
                return
            self._config = config
            self.refused = None
            log.info(
                "event=routing_reloaded path=%s departments=%d", self.path, len(config.departments)
            )
