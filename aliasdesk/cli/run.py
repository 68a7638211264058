"""``aliasdesk run``: gateway and workers together. Combining the two is wiring, so it
lives in the entry-point layer; gateway and worker each know only their own side."""

from __future__ import annotations

import contextlib
import sys
import threading

from aliasdesk.claim_sizes import ALONE, ClaimSize
from aliasdesk.cli.processes import JobProcesses
from aliasdesk.relay import (
    Dispatch,
    Share,
    drain,
    relay_forever,
)
from aliasdesk.runtime import Runtime
from aliasdesk.services.delivery import render_failures
from aliasdesk.services.intake import process_pending
from aliasdesk.services.takeover import Watch
from gateway.poller import MailboxPoller
from gateway.process import make_poller, serving_metrics
from gateway.service import Intake
from worker.dispatch import broker_dispatch
from worker.process import start_dramatiq_worker

SHOWN_FAILURES = 10


def run_all(
    runtime: Runtime,
    *,
    once: bool,
    stop: threading.Event | None,
    helpers: JobProcesses | None = None,
) -> int:
    """Intake, the relay's rounds, and the jobs unless job processes (``helpers``) run
    them: then this process only takes mail in and does the rounds (on a broker it still
    publishes the jobs), and runs jobs only while a job process is not ready."""
    wake = threading.Event()  # the relay's: mail was processed, jobs are waiting
    intake = Intake(runtime, after_processing=wake.set)
    # With ALIASDESK_LMTP_PORT the MTA may be the only way mail comes in: no mailbox needed.
    lmtp_port = runtime.settings.lmtp_port
    poller = make_poller(runtime, intake) if runtime.settings.imap_host or not lmtp_port else None
    dispatch, broker = broker_dispatch(runtime)
    worker = None
    # First a takeover pass: ``run --once`` after a crash also finishes what the dead held.
    watch = Watch(runtime.db)
    watch.start()
    if broker is not None and (helpers is None or once):
        worker = start_dramatiq_worker(runtime, broker)
    try:
        if once:
            earlier = render_failures(runtime.db)
            if poller is not None:
                poller.run_once()
            # Mail an LMTP listener stored but never processed (it was killed) counts too.
            process_pending(runtime.db, runtime.routing.current, runtime.pipeline_settings)
            drain(runtime, dispatch)
            return _once_outcome(runtime, earlier)
        assert stop is not None
        with serving_metrics(runtime):
            _serve(runtime, poller, (dispatch, *_share(helpers, broker is None)), stop, wake)
        return 0
    finally:
        watch.stop()
        if worker is not None:
            worker.stop()


def _share(helpers: JobProcesses | None, embedded: bool) -> tuple[ClaimSize, Share]:
    """Claim size and share of the relay's work for this process. With job processes on
    the embedded broker it does the rounds and runs jobs beside them, claiming its share:
    taking mail in costs about a third of what running its jobs does, so a process that
    only took mail in would sit idle while the job processes fell behind. On a broker
    the relay publishes every job whoever runs it, so it keeps its whole share."""
    if helpers is None or not embedded:
        return ALONE, Share.ALL
    return helpers.claims, Share.ALL


def _serve(
    runtime: Runtime,
    poller: MailboxPoller | None,
    relaying: tuple[Dispatch, ClaimSize, Share],
    stop: threading.Event,
    wake: threading.Event,
) -> None:
    """The relay (with its dispatch, claim size and share of the work: only the rounds
    when job processes run the jobs), plus the IMAP poller and the LMTP listener that are
    configured; both wake the relay when they processed mail."""
    dispatch, claims, share = relaying
    relay = threading.Thread(
        target=relay_forever,
        args=(runtime, dispatch, stop),
        kwargs={"wake": wake, "claims": claims, "share": share},
        name="relay",
        daemon=True,
    )
    relay.start()
    with contextlib.ExitStack() as stack:
        port = runtime.settings.lmtp_port
        if port:
            from gateway.lmtp import LmtpServer  # aiosmtpd only where an MTA delivers

            stack.enter_context(LmtpServer(runtime, port, after_processing=wake.set))
        if poller is not None:
            poller.run_forever(stop)
        else:
            stop.wait()
    wake.set()
    relay.join(timeout=5)


def _once_outcome(runtime: Runtime, earlier: dict[int, str]) -> int:
    """0, or 1 when mail of this run could not be rendered: a cron job running
    ``run --once`` must hear that mail went unsent, not see success."""
    failures = [text for key, text in render_failures(runtime.db).items() if key not in earlier]
    if not failures:
        return 0
    print(
        f"aliasdesk: {len(failures)} mail(s) could not be rendered and were not sent:",
        file=sys.stderr,
    )
    for text in failures[:SHOWN_FAILURES]:
        print(f"  {text}", file=sys.stderr)
    if len(failures) > SHOWN_FAILURES:
        print(f"  ... and {len(failures) - SHOWN_FAILURES} more", file=sys.stderr)
    return 1
