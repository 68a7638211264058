"""``aliasdesk lmtp``: mail from the organisation's MTA over LMTP, and the relay that hands
the jobs it makes to the workers (in-process on the embedded broker), as ``gateway`` does
for IMAP. Wiring only: the server is gateway.lmtp, the broker worker.dispatch."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from aliasdesk.relay import Dispatch
from aliasdesk.runtime import Runtime
from gateway.lmtp import LmtpServer
from gateway.process import serve_with_relay

log = logging.getLogger("aliasdesk.lmtp")


def run_lmtp(
    runtime: Runtime, stop: threading.Event, dispatch: Dispatch, *, host: str, port: int
) -> int:
    """Serve LMTP until ``stop``; the relay wakes as soon as a mail has been processed."""

    def serve(wake: Callable[[], None]) -> None:
        with LmtpServer(runtime, port, host=host, after_processing=wake):
            stop.wait()

    return serve_with_relay(runtime, stop, dispatch, serve)
