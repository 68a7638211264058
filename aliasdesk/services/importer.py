"""``aliasdesk import``: old mail from an mbox, a Maildir or a folder of .eml files, through
the same pipeline as live mail.

Safe to run twice: a mail whose bytes were imported from the same source before is skipped,
and the pipeline's dedupe turns the same mail from another archive into a logged duplicate.
Mail is processed oldest first by its Date header, not in file order: a Maildir has no
order at all and exported folders rarely keep one, and a follow-up processed before its
request would open a ticket of its own instead of joining the request's.

Archives can be large, so only a sort key and a digest per mail stay in memory; the bytes
are read again, batch by batch, when the mail is processed.
"""

from __future__ import annotations

import json
import mailbox
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from email.utils import parsedate_to_datetime
from functools import partial
from pathlib import Path
from typing import TextIO

from sqlalchemy import func, select

from aliasdesk.db.models import InboundMail, Job
from aliasdesk.runtime import Runtime
from aliasdesk.services.intake import RawMail, content_hash, process_pending, store_raw
from aliasdesk.services.intake_store import cut_batches, header_of, too_large
from aliasdesk.services.jobs import JobRunner

BATCH = 50
MAIL_SUFFIXES = {".eml"}
"""A folder may hold notes and exports of other kinds next to the mail: only .eml files are
mail (RFC 5322 text); Outlook's .msg is a binary format and would only be quarantined."""

PROGRESS_EVERY = 0.2
"""Seconds between progress-bar redraws: often enough to look alive, rarely enough to cost
nothing on a fast import."""


@dataclass(frozen=True)
class _Entry:
    """One mail of the source: where to read it again, when it was written, its digest."""

    order: tuple[float, int]
    digest: str
    size: int
    load: Callable[[], bytes]


def iter_source(path: Path) -> Iterator[Callable[[], bytes]]:
    """Readers for each mail in ``path``: a Maildir (cur/new/tmp), a folder of .eml, or an mbox."""
    if path.is_dir() and (path / "cur").is_dir():
        maildir = mailbox.Maildir(str(path), factory=None, create=False)
        for key in sorted(maildir.keys()):
            yield partial(maildir.get_bytes, key)
    elif path.is_dir():
        files = sorted(
            p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in MAIL_SUFFIXES
        )
        for file in files:
            yield file.read_bytes
    elif path.is_file():
        box = mailbox.mbox(str(path), create=False)
        for key in box.keys():  # noqa: SIM118 (keys, not messages: raw bytes)
            yield partial(box.get_bytes, key)
    else:
        raise FileNotFoundError(f"{path}: no such mbox, Maildir or folder")


def _written_at(raw: bytes) -> float:
    """The Date header as a timestamp; mail without a usable one sorts after all others."""
    try:
        value = BytesHeaderParser().parsebytes(raw).get("Date")
        return parsedate_to_datetime(str(value)).timestamp() if value else float("inf")
    except (TypeError, ValueError, IndexError, OverflowError):
        return float("inf")


def _survey(path: Path) -> list[_Entry]:
    entries = []
    for position, load in enumerate(iter_source(path)):
        raw = load()
        entries.append(_Entry((_written_at(raw), position), content_hash(raw), len(raw), load))
    entries.sort(key=lambda entry: entry.order)
    return entries


class _Progress:
    """``[#####.....] 120/400  35.2 mails/s  ETA    8 s`` redrawn in place on ``out``."""

    def __init__(self, out: TextIO, total: int) -> None:
        self.out = out
        self.total = total
        self.started = time.monotonic()
        self.drawn_at = 0.0

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


def import_path(runtime: Runtime, path: Path, *, send_mail: bool, out: TextIO = sys.stderr) -> int:
    """Import every mail of ``path`` not imported from it before; returns the exit code."""
    embedded = runtime.settings.embedded_broker
    if send_mail and embedded and not runtime.settings.smtp_host:
        print(
            "aliasdesk import: ALIASDESK_SMTP_HOST is not set, so the acknowledgements cannot "
            "be sent; set it, or import with --no-mail",
            file=sys.stderr,
        )
        return 2
    try:
        entries = _survey(path)
    except (OSError, mailbox.Error) as error:
        print(f"aliasdesk import: {error}", file=sys.stderr)
        return 2
    source = f"import:{path.resolve()}"
    with runtime.db.reader() as session:
        known = set(
            session.scalars(select(InboundMail.content_hash).where(InboundMail.mailbox == source))
        )
        first_new_job = int(session.scalar(select(func.max(Job.id))) or 0) + 1
    fresh = [entry for entry in entries if entry.digest not in known]
    outcomes = _run_batches(runtime, source, fresh, send_mail, out)
    if fresh and embedded:
        _finish_jobs(runtime, send_mail, first_new_job)
    summary = ", ".join(f"{n} {k}" for k, n in sorted(outcomes.items())) or "nothing new"
    print(
        f"imported {len(fresh)} of {len(entries)} mails from {path} "
        f"({len(entries) - len(fresh)} seen before): {summary}"
    )
    return 0


def _run_batches(
    runtime: Runtime, source: str, fresh: list[_Entry], send_mail: bool, out: TextIO
) -> dict[str, int]:
    outcomes: dict[str, int] = {}
    progress = _Progress(out, len(fresh))
    limit = runtime.settings.max_mail_bytes
    done = 0
    for cut in cut_batches([entry.size for entry in fresh], count=BATCH, budget=limit):
        batch = fresh[cut]
        store_raw(
            runtime.db,
            source="import",
            mailbox=source,
            uidvalidity=None,
            mails=[_raw_mail(entry, limit) for entry in batch],
            send_mail=send_mail,
        )
        for result in process_pending(
            runtime.db, runtime.routing.current, runtime.pipeline_settings
        ):
            outcomes[result.outcome] = outcomes.get(result.outcome, 0) + 1
        done += len(batch)
        progress.update(done)
    if fresh:
        progress.finish()
    return outcomes


def _raw_mail(entry: _Entry, limit: int) -> RawMail:
    """The mail to store; one over ALIASDESK_MAX_MAIL_BYTES is held, as live mail is: its
    header alone is stored and quarantined, under the whole mail's digest so that the next
    run of the same import skips it too."""
    raw = entry.load()
    if len(raw) <= limit:
        return RawMail(raw)
    reason = too_large(len(raw), limit, "the archive")
    return RawMail(header_of(raw), held_size=len(raw), reason=reason, digest=entry.digest)


def _finish_jobs(runtime: Runtime, send_mail: bool, first_new_job: int) -> None:
    """On the embedded broker nobody else runs the jobs the import queued: run them here.

    With mail, everything is drained as ``run --once`` would. With ``--no-mail`` only this
    import's owner assignments run, with a sender that refuses to send, so not even an
    alert about other pending work leaves the building; there may be no SMTP server at all.
    """
    if send_mail:
        from aliasdesk.relay import drain, inline_dispatch

        drain(runtime, inline_dispatch(runtime))
        return
    runner = JobRunner(
        db=runtime.db,
        config_source=runtime.routing.current,
        renderer=runtime.renderer,
        sender=_NoSending(),
        instance_id=runtime.settings.instance_id,
    )
    with runtime.db.reader() as session:
        jobs = session.execute(
            select(Job.id, Job.payload).where(
                Job.id >= first_new_job, Job.kind == "ticket_created", Job.state == "pending"
            )
        ).all()
    for job_id, payload in jobs:
        if json.loads(payload or "{}").get("send_mail", True) is False:
            runner.run(job_id)


class _NoSending:
    """The mail sender of ``import --no-mail``: any attempt to send is a bug, said loudly."""

    def send(self, sender: str, recipients: list[str], message: bytes) -> str:
        raise RuntimeError("import --no-mail must not send mail")
