"""``aliasdesk lmtp``: mail from the organisation's MTA over LMTP, and the relay that hands
the jobs it makes to the workers (in-process on the embedded broker), as ``gateway`` does
for IMAP. Wiring only: the server is gateway.lmtp, the broker worker.dispatch."""

from __future__ import annotations

import logging
import threading

from aliasdesk.relay import Dispatch, relay_forever
from aliasdesk.runtime import Runtime
from aliasdesk.services.takeover import watching
from gateway.lmtp import LmtpServer
from gateway.process import serving_metrics

log = logging.getLogger("aliasdesk.lmtp")


def run_lmtp(
    runtime: Runtime, stop: threading.Event, dispatch: Dispatch, *, host: str, port: int
) -> int:
    """Serve LMTP until ``stop``; the relay wakes as soon as a mail has been processed."""
    wake = threading.Event()
    relay = threading.Thread(
        target=relay_forever,
        args=(runtime, dispatch, stop),
        kwargs={"wake": wake},
        name="relay",
        daemon=True,
    )
    with watching(runtime.db), serving_metrics(runtime):
        relay.start()
        with LmtpServer(runtime, port, host=host, after_processing=wake.set):
            stop.wait()
        wake.set()
        relay.join(timeout=5)
    return 0
