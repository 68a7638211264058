"""A brake on link guessing: a client that keeps presenting bad links is turned away.

Tokens cannot be guessed in any useful time, but a client trying many is either probing
or broken, and neither should cost a database query each time. Counted per client
address in memory (one process; a restart forgets, which only helps the honest).
"""

from __future__ import annotations

import threading
import time
from collections import deque

BAD_LINKS_ALLOWED = 10
WINDOW_SECONDS = 600.0
MAX_CLIENTS_TRACKED = 10_000
SIGN_IN_ASKS_ALLOWED = 5
SIGN_IN_WINDOW_SECONDS = 900.0
"""Sign-in links one client may ask for in a quarter of an hour (each ask may mail)."""


class BadLinkBrake:
    """Counts refused links per client; ``blocked`` once a client passed the allowance."""

    def __init__(self, allowed: int = BAD_LINKS_ALLOWED, window: float = WINDOW_SECONDS) -> None:
        self.allowed = allowed
        self.window = window
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def blocked(self, client: str) -> bool:
        with self._lock:
            times = self._seen.get(client)
            if times is None:
                return False
            self._forget_old(times, time.monotonic())
            return len(times) >= self.allowed

    def refused(self, client: str) -> None:
        """Note one bad link from ``client``."""
        now = time.monotonic()
        with self._lock:
            if client not in self._seen and len(self._seen) >= MAX_CLIENTS_TRACKED:
                self._seen.pop(next(iter(self._seen)))  # the oldest client goes first
            times = self._seen.setdefault(client, deque())
            self._forget_old(times, now)
            times.append(now)

    def retry_after(self) -> int:
        return int(self.window)

    def _forget_old(self, times: deque[float], now: float) -> None:
        while times and now - times[0] > self.window:
            times.popleft()
