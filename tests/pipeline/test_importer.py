"""The import service on its own: it stores and processes old mail, reports progress to
the caller and prints nothing; the command (tests/e2e/test_import.py) does the talking."""

from __future__ import annotations

import contextlib
import io
import mailbox
import os
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from aliasdesk.cli import importing
from aliasdesk.db.models import Ticket
from aliasdesk.runtime import Runtime
from aliasdesk.services import assignment, importer, jobs
from aliasdesk.services.importer import ImportResult, Progress, import_mail
from tests.e2e.test_import import MAILS, as_mbox


def _import(
    runtime: Runtime,
    path: Path,
    seen: list[tuple[int, int]],
    progress: Progress | None = None,
) -> ImportResult:
    return import_mail(
        runtime.db,
        runtime.routing.current,
        runtime.pipeline_settings,
        path,
        send_mail=False,
        max_mail_bytes=runtime.settings.max_mail_bytes,
        progress=progress or (lambda done, total: seen.append((done, total))),
    )


def test_import_reports_progress_and_outcomes_and_prints_nothing(
    runtime: Runtime, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seen: list[tuple[int, int]] = []
    first = _import(runtime, as_mbox(tmp_path), seen)
    # three requests and the follow-up that joins the first one, although it comes first
    assert first == ImportResult(total=4, fresh=4, outcomes={"new_ticket": 3, "update_ticket": 1})
    assert seen == [(4, 4)]  # one batch
    assert capsys.readouterr() == ("", "")


def test_a_second_import_of_the_same_archive_finds_nothing_new(
    runtime: Runtime, tmp_path: Path
) -> None:
    path = as_mbox(tmp_path)
    _import(runtime, path, [])
    seen: list[tuple[int, int]] = []
    again = _import(runtime, path, seen)
    assert (again.total, again.fresh, again.outcomes) == (len(MAILS), 0, {})
    assert seen == []


def test_an_unreadable_source_raises_before_anything_is_stored(
    runtime: Runtime, tmp_path: Path
) -> None:
    with pytest.raises((OSError, mailbox.Error)):
        _import(runtime, tmp_path / "no-such.mbox", [])


def _opened(path: Path) -> int:
    """How many of this process's file descriptors are open on ``path`` (Linux)."""
    fds = Path("/proc/self/fd")
    if not fds.is_dir():
        pytest.skip("no /proc/self/fd to count open files in")
    count = 0
    for fd in os.listdir(fds):
        with contextlib.suppress(OSError):  # the descriptor that listed the folder, closed
            count += Path(os.readlink(fds / fd)) == path.resolve()
    return count


class _Stopped(Exception):
    pass


def test_the_mbox_is_closed_when_the_import_returns_or_raises(
    runtime: Runtime, tmp_path: Path
) -> None:
    path = as_mbox(tmp_path)
    during: list[int] = []

    def stop(done: int, total: int) -> None:
        during.append(_opened(path))
        raise _Stopped  # as the command's Ctrl-C would, between two batches

    with pytest.raises(_Stopped) as stopped:
        _import(runtime, path, [], progress=stop)
    # The traceback still holds the import's frames and with them every message's reader:
    # only an explicit close has closed the file.
    assert stopped.traceback and during == [1]
    assert _opened(path) == 0
    _import(runtime, path, [])
    assert _opened(path) == 0


def test_each_batch_is_handed_on_with_its_classifications_then_let_go(
    runtime: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(importer, "BATCH", 2)
    # The importer takes back the parts the helper has not begun (a helper still starting
    # on a busy machine): here it waits for them, so that the helper classifies them all.
    monkeypatch.setattr(Future, "cancel", lambda _future: False)
    handed: list[dict[int, str | None]] = []
    result = import_mail(
        runtime.db,
        runtime.routing.current,
        runtime.pipeline_settings,
        as_mbox(tmp_path),
        send_mail=False,
        max_mail_bytes=runtime.settings.max_mail_bytes,
        progress=lambda done, total: None,
        after_batch=lambda languages: handed.append(dict(languages)),
    )
    assert result.outcomes == {"new_ticket": 3, "update_ticket": 1}
    assert len(handed) == 2  # four mails, two a batch
    # every mail was classified for the batch it came in, and nothing is kept beyond it
    assert sum(len(languages) for languages in handed) == len(MAILS)
    assert not set(handed[0]) & set(handed[1])
    assert result.languages == {}


def test_import_without_mail_assigns_each_batch_before_the_next_is_counted(
    runtime: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The owner assignments run as the import goes, while the helper reads ahead, not
    after the last batch: when a batch is counted done, its tickets have owners."""
    monkeypatch.setattr(importer, "BATCH", 2)
    unowned_when_counted: list[int] = []
    drawn = importing._Progress.__call__

    def counted(progress: importing._Progress, done: int, total: int) -> None:
        with runtime.db.reader() as session:
            unowned = select(func.count()).select_from(Ticket).where(Ticket.owner.is_(None))
            unowned_when_counted.append(session.scalar(unowned) or 0)
        drawn(progress, done, total)

    monkeypatch.setattr(importing._Progress, "__call__", counted)
    assert (
        importing.import_path(runtime, as_mbox(tmp_path), send_mail=False, out=io.StringIO()) == 0
    )
    assert len(unowned_when_counted) == 2
    assert unowned_when_counted == [0, 0]
    with runtime.db.reader() as session:
        assert session.scalar(select(func.count()).select_from(Ticket)) == 3


def test_an_assignment_that_fails_is_tried_once_per_import_not_after_every_batch(
    runtime: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A ticket whose assignment keeps failing stays pending for the next run, as when the
    assignments ran after the last batch; it is not retried, and logged, after each one."""
    monkeypatch.setattr(importer, "BATCH", 1)
    tried: list[str] = []
    assign = assignment.assign_new_ticket

    def failing_for_the_vpn(session: Session, ticket: Ticket, *args: Any, **kwargs: Any) -> str:
        tried.append(ticket.subject)
        if ticket.subject == "VPN broken":
            raise RuntimeError("a ticket this build cannot assign")
        return assign(session, ticket, *args, **kwargs)

    monkeypatch.setattr(jobs, "assign_new_ticket", failing_for_the_vpn)
    assert (
        importing.import_path(runtime, as_mbox(tmp_path), send_mail=False, out=io.StringIO()) == 0
    )
    # with its batch and then alone, once: two more batches and the last call came after
    assert tried.count("VPN broken") == 2
    with runtime.db.reader() as session:
        unowned = session.scalars(select(Ticket.subject).where(Ticket.owner.is_(None))).all()
    assert unowned == ["VPN broken"]


def test_an_import_writes_through_connections_tuned_for_bulk_writes(
    runtime: Runtime, tmp_path: Path
) -> None:
    """On SQLite the import's connections hold a larger page cache and checkpoint less
    often (``Database.prefer_bulk_writes``); on PostgreSQL nothing is changed."""

    def pragmas() -> tuple[int, int]:
        with runtime.db.unit_of_work() as session:
            cache = session.execute(text("PRAGMA cache_size")).scalar_one()
            checkpoint = session.execute(text("PRAGMA wal_autocheckpoint")).scalar_one()
        return cache, checkpoint

    if not runtime.db.is_sqlite:
        assert (
            importing.import_path(runtime, as_mbox(tmp_path), send_mail=False, out=io.StringIO())
            == 0
        )
        return
    assert pragmas() == (-2000, 1000)  # SQLite's own defaults
    assert (
        importing.import_path(runtime, as_mbox(tmp_path), send_mail=False, out=io.StringIO()) == 0
    )
    assert pragmas() == (-16000, 10000)
    with runtime.db.reader() as session:
        assert session.scalar(select(func.count()).select_from(Ticket)) == 3
