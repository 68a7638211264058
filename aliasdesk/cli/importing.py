"""``aliasdesk import PATH [--no-mail]``: the command around aliasdesk.services.importer.

The service stores and processes the mail; this module checks the settings first, draws
the progress bar, runs the queued jobs on the embedded broker and prints the summary.
"""

from __future__ import annotations

import json
import mailbox
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

from sqlalchemy import select

from aliasdesk.db.models import Job
from aliasdesk.relay import drain, inline_dispatch
from aliasdesk.runtime import Runtime
from aliasdesk.services.importer import ImportResult, import_mail
from aliasdesk.services.jobs import JobRunner

JOB_BATCH = 200
"""Owner assignments run together in one transaction in a ``--no-mail`` import."""
PROGRESS_EVERY = 0.2
"""Seconds between progress-bar redraws: often enough to look alive, rarely enough to cost
nothing on a fast import."""


class _Progress:
    """``[#####.....] 120/400  35.2 mails/s  ETA    8 s`` redrawn in place on ``out``."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.total = 0
        self.started = time.monotonic()
        self.drawn_at = 0.0

    def __call__(self, done: int, total: int) -> None:
        self.total = total
        self.update(done)

    def update(self, done: int, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.drawn_at < PROGRESS_EVERY:
            return
        self.drawn_at = now
        rate = done / max(now - self.started, 1e-6)
        eta = (self.total - done) / rate if rate > 0 else 0.0
        width = 30
        filled = width * done // self.total if self.total else width
        self.out.write(
            f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{self.total} "
            f"{rate:6.1f} mails/s  ETA {eta:5.0f} s"
        )
        self.out.flush()

    def finish(self) -> None:
        self.update(self.total, force=True)
        self.out.write("\n")
        self.out.flush()


def import_path(
    runtime: Runtime,
    path: Path,
    *,
    send_mail: bool,
    out: TextIO = sys.stderr,
    read_ahead: bool = True,
) -> int:
    """Import every mail of ``path`` not imported from it before; returns the exit code.
    ``read_ahead`` False keeps all of the work in this process (no helper process)."""
    embedded = runtime.settings.embedded_broker
    if send_mail and embedded and not runtime.settings.smtp_host:
        print(
            "aliasdesk import: ALIASDESK_SMTP_HOST is not set, so the acknowledgements cannot "
            "be sent; set it, or import with --no-mail",
            file=sys.stderr,
        )
        return 2
    runtime.db.prefer_bulk_writes()
    progress = _Progress(out)
    # Without mail, each batch's owner assignments run right after it, while the helper
    # process reads the next batch: run after the last batch, they had the second core
    # idle. With mail, everything is drained at the end as ``run --once`` would.
    assign = _QuietAssignments(runtime) if embedded and not send_mail else None
    try:
        result = import_mail(
            runtime.db,
            runtime.routing.current,
            runtime.pipeline_settings,
            path,
            send_mail=send_mail,
            max_mail_bytes=runtime.settings.max_mail_bytes,
            progress=progress,
            read_ahead=read_ahead,
            after_batch=assign,
        )
    except (OSError, mailbox.Error) as error:
        print(f"aliasdesk import: {error}", file=sys.stderr)
        return 2
    if result.fresh:
        progress.finish()
    if assign is not None:
        # A run killed before its owner assignments left them pending: the next run
        # finishes them even when it finds no mail new to it.
        assign(result.languages)
    elif embedded and result.fresh:
        drain(runtime, inline_dispatch(runtime))
    _print_summary(result, path)
    return 0


def _print_summary(result: ImportResult, path: Path) -> None:
    summary = ", ".join(f"{n} {k}" for k, n in sorted(result.outcomes.items())) or "nothing new"
    print(
        f"imported {result.fresh} of {result.total} mails from {path} "
        f"({result.total - result.fresh} seen before): {summary}"
    )


class _QuietAssignments:
    """The owner assignments of ``import --no-mail``, run in this process: on the embedded
    broker nobody else would run them.

    Only the assignments of mail imported without mail run (this import's, and those an
    earlier one killed midway left pending), with a sender that refuses to send, so not
    even an alert about other pending work leaves the building; there may be no SMTP
    server at all. ``languages`` are the request texts the helper process classified.
    """

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.left_pending: set[int] = set()
        """Jobs this import tried that failed and stay pending: tried once per import, as
        when the assignments ran after the last batch, not once more after every batch."""

    def __call__(self, languages: Mapping[int, str | None]) -> None:
        runtime = self.runtime
        runner = JobRunner(
            db=runtime.db,
            config_source=runtime.routing.current,
            renderer=runtime.renderer,
            sender=_NoSending(),
            instance_id=runtime.settings.instance_id,
            known_languages=languages,
        )
        with runtime.db.reader() as session:
            jobs = session.execute(
                select(Job.id, Job.payload).where(
                    Job.kind == "ticket_created", Job.state == "pending"
                )
            ).all()
        quiet = [
            job_id
            for job_id, payload in jobs
            if job_id not in self.left_pending
            and json.loads(payload or "{}").get("send_mail", True) is False
        ]
        # A batch per transaction, as the workers assign live mail: one job per transaction
        # took most of a large backfill's time.
        for start in range(0, len(quiet), JOB_BATCH):
            batch = quiet[start : start + JOB_BATCH]
            runner.run_many(batch)
            with runtime.db.reader() as session:
                self.left_pending.update(
                    session.scalars(select(Job.id).where(Job.id.in_(batch), Job.state == "pending"))
                )


class _NoSending:
    """The mail sender of ``import --no-mail``: any attempt to send is a bug, said loudly."""

    def send(self, sender: str, recipients: list[str], message: bytes) -> str:
        raise RuntimeError("import --no-mail must not send mail")
