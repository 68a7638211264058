"""How a long-running command is told to stop, apart from ``cli.run``: a ``worker`` or a
``gateway`` that imported it for this one function loaded the mailbox poller, the intake
pipeline and imapclient with it (about 70 modules, 2 MB held for nothing in a worker)."""

from __future__ import annotations

import signal
import threading


def stop_event() -> threading.Event:
    """Set by SIGTERM or SIGINT: long-running commands finish their batch and return."""
    stop = threading.Event()

    def _handle(_signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _handle)
    signal.signal(signal.SIGINT, _handle)
    return stop
