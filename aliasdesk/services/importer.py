"""``aliasdesk import``: old mail from an mbox, a Maildir or a folder of .eml files, through
the same pipeline as live mail. Safe to run twice: a mail whose bytes were imported from
the same source before is skipped, and the pipeline's dedupe catches the rest."""

from __future__ import annotations

import mailbox
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from sqlalchemy import select

from aliasdesk.db.models import InboundMail
from aliasdesk.runtime import Runtime
from aliasdesk.services.intake import RawMail, content_hash, process_pending, store_raw

BATCH = 100


def iter_source(path: Path) -> Iterator[bytes]:
    """Raw messages from ``path``: a Maildir (cur/new/tmp), a folder of .eml, or an mbox."""
    if path.is_dir() and (path / "cur").is_dir():
        for message in mailbox.Maildir(str(path), factory=None, create=False):
            yield message.as_bytes()
    elif path.is_dir():
        for file in sorted(
            p
            for p in path.rglob("*")
            if p.is_file() and p.suffix.lower() in {".eml", ".msg", ".txt", ".box"}
        ):
            yield file.read_bytes()
    elif path.is_file():
        box = mailbox.mbox(str(path), create=False)
        for key in box.keys():  # noqa: SIM118 (keys, not messages: raw bytes)
            yield box.get_bytes(key)
    else:
        raise FileNotFoundError(f"{path}: no such mbox, Maildir or folder")


def _progress(out: TextIO, done: int, total: int, started: float) -> None:
    elapsed = max(time.monotonic() - started, 1e-6)
    rate = done / elapsed
    eta = (total - done) / rate if rate > 0 else 0.0
    width = 30
    filled = int(width * done / total) if total else width
    out.write(
        f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} "
        f"{rate:6.1f} mails/s  ETA {eta:5.0f} s"
    )
    out.flush()


def import_path(runtime: Runtime, path: Path, *, send_mail: bool, out: TextIO = sys.stderr) -> int:
    try:
        messages = list(iter_source(path))
    except (OSError, mailbox.Error) as error:
        print(f"aliasdesk import: {error}", file=sys.stderr)
        return 2
    source = f"import:{path.resolve()}"
    with runtime.db.reader() as session:
        known = set(
            session.scalars(select(InboundMail.content_hash).where(InboundMail.mailbox == source))
        )
    fresh = [raw for raw in messages if content_hash(raw) not in known]
    started = time.monotonic()
    outcomes: dict[str, int] = {}
    for start in range(0, len(fresh), BATCH):
        batch = fresh[start : start + BATCH]
        store_raw(
            runtime.db,
            source="import",
            mailbox=source,
            uidvalidity=None,
            mails=[RawMail(raw) for raw in batch],
            send_mail=send_mail,
        )
        for result in process_pending(
            runtime.db, runtime.routing.current, runtime.pipeline_settings
        ):
            outcomes[result.outcome] = outcomes.get(result.outcome, 0) + 1
        _progress(out, min(start + BATCH, len(fresh)), len(fresh), started)
    if fresh:
        out.write("\n")
    if send_mail and fresh:
        from aliasdesk.relay import drain, inline_dispatch
        from worker.broker import is_embedded

        if is_embedded(runtime.settings.broker_url):
            drain(runtime, inline_dispatch(runtime))
    summary = ", ".join(f"{n} {k}" for k, n in sorted(outcomes.items())) or "nothing new"
    print(
        f"imported {len(fresh)} of {len(messages)} mails from {path} "
        f"({len(messages) - len(fresh)} seen before): {summary}"
    )
    return 0
