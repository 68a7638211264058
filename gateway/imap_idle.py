"""Waiting in IDLE for the server to speak: select() on the socket, and a look into the
buffers where select() cannot see (imaplib's reader, the TLS layer)."""

from __future__ import annotations

import select
import ssl
import threading
import time
from typing import Any

from imapclient import IMAPClient

_IDLE_SLICE = 0.5
"""How often an IDLE wait looks at its stop event."""


def wait_readable(client: IMAPClient, timeout: float, stop: threading.Event | None) -> bool:
    """Whether the server sent something before ``timeout`` passed or ``stop`` was set."""
    sock = client.socket()
    deadline = time.monotonic() + timeout
    while True:
        if _buffered(client, sock):
            return True
        remaining = deadline - time.monotonic()
        if remaining <= 0 or (stop is not None and stop.is_set()):
            return False
        readable, _, _ = select.select([sock], [], [], min(remaining, _IDLE_SLICE))
        if readable:
            return True


def _buffered(client: IMAPClient, sock: Any) -> bool:
    """Whether a response already sits in a buffer where select() cannot see it.

    Data can arrive in the same packet as IDLE's continuation line and wait in imaplib's reader
    or in the TLS layer; without this check it would wait for the next wake-up.
    """
    pending = getattr(sock, "pending", None)
    if callable(pending) and pending() > 0:
        return True
    reader = getattr(getattr(client, "_imap", None), "file", None)
    peek = getattr(reader, "peek", None)
    if not callable(peek):
        return False
    sock.setblocking(False)
    try:
        return bool(peek(1))
    except (BlockingIOError, ssl.SSLWantReadError, OSError):
        return False
    finally:
        sock.setblocking(True)
        client._set_read_timeout()  # and the configured read timeout again
