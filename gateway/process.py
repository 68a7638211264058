"""The gateway process: the IMAP poller feeding the intake, and the relay handing the
jobs it made to whatever ``Dispatch`` the entry point chose (gateway never imports worker)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from aliasdesk.relay import Dispatch, relay_forever
from aliasdesk.runtime import Runtime
from aliasdesk.services.takeover import watching
from gateway.imap import ImapConfig
from gateway.poller import MailboxPoller
from gateway.service import Intake, StateReports, imap_config

log = logging.getLogger("aliasdesk.gateway")


def make_poller(
    runtime: Runtime, intake: Intake, config: ImapConfig | None = None
) -> MailboxPoller:
    settings = runtime.settings
    config = config or imap_config(runtime)
    reports = StateReports(runtime, config)
    reports.watch_routing()
    return MailboxPoller(
        config,
        intake,
        poll_interval=settings.imap_poll_interval,
        batch_size=settings.imap_batch_size,
        max_mail_bytes=settings.max_mail_bytes,
        known_high_uid=runtime.known_high_uid,
        on_error=reports.failed,
        on_connect=reports.connected,
    )


def run_gateway(runtime: Runtime, stop: threading.Event, dispatch: Dispatch) -> int:
    """IMAP intake plus the relay; with the embedded broker the relay also runs the jobs."""

    def poll(wake: Callable[[], None]) -> None:
        make_poller(runtime, Intake(runtime, after_processing=wake)).run_forever(stop)

    return serve_with_relay(runtime, stop, dispatch, poll)


def serve_with_relay(
    runtime: Runtime,
    stop: threading.Event,
    dispatch: Dispatch,
    intake: Callable[[Callable[[], None]], None],
) -> int:
    """Run ``intake`` (IMAP or LMTP) until ``stop`` beside the relay thread; the intake
    calls the function it is given after processing mail, so the relay looks at once."""
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
        intake(wake.set)
        wake.set()
        relay.join(timeout=5)
    return 0


@contextmanager
def serving_metrics(runtime: Runtime) -> Iterator[None]:
    """Prometheus text on 127.0.0.1:ALIASDESK_METRICS_PORT while the gateway runs."""
    port = runtime.settings.metrics_port
    if not port:
        yield
        return
    from aliasdesk.metrics import start_metrics_server

    stop = start_metrics_server(runtime.db, port)
    try:
        yield
    finally:
        stop()
