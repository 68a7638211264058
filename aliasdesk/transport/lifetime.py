"""Something that runs between ``start()`` and ``stop()``: a listening server, a mailbox
connection, a pool of SMTP connections.

``with thing:`` starts it and stops it however the block ends; written once here instead
of the same two methods on every server and client.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from types import TracebackType
from typing import Self


class Lifetime(ABC):
    """Start on entering a ``with`` block, stop on leaving it."""

    @abstractmethod
    def start(self) -> object:
        """Begin: bind, connect, spawn what runs in the background."""

    @abstractmethod
    def stop(self) -> None:
        """End: release what ``start`` took; safe to call more than once."""

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
