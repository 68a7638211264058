"""The import service on its own: it stores and processes old mail, reports progress to
the caller and prints nothing; the command (tests/e2e/test_import.py) does the talking."""

from __future__ import annotations

import mailbox
from pathlib import Path

import pytest

from aliasdesk.runtime import Runtime
from aliasdesk.services.importer import ImportResult, import_mail
from tests.e2e.test_import import MAILS, as_mbox


def _import(runtime: Runtime, path: Path, seen: list[tuple[int, int]]) -> ImportResult:
    return import_mail(
        runtime.db,
        runtime.routing.current,
        runtime.pipeline_settings,
        path,
        send_mail=False,
        max_mail_bytes=runtime.settings.max_mail_bytes,
        progress=lambda done, total: seen.append((done, total)),
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
