"""``aliasdesk import`` with its helper process (parsing and language detection a batch or
two ahead, aliasdesk.services.import_ahead) against the same import done in one process:
the same tickets, languages, outcomes and duplicates, also when the helper cannot start
or is killed midway."""

from __future__ import annotations

import io
import logging
import os
import signal
import time
from collections.abc import Iterator
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import psutil
import pytest
from sqlalchemy import select

from aliasdesk.cli.importing import import_path
from aliasdesk.db.models import InboundMail, Ticket
from aliasdesk.runtime import Runtime
from aliasdesk.services import import_ahead, importer, languages
from bench.mailbox_gen import generate
from tests.support.corpus import CORPUS, require_corpus
from tests.support.harness import runtime_for
from tests.support.mbox_files import write_mbox
from tests.support.smtp_script import ScriptedSmtpServer

require_corpus()

BENCH_MAILS = 230
"""Five batches of 50 (see ``small_batches``): a kill after the second batch leaves some
to finish without the helper."""
CORPUS_FILES = (
    *(f"django-helpdesk/test_files/{name}" for name in ("quoted_printable.eml", "pgp.eml")),
    "django-helpdesk/test_files/utf-nondecodable.eml",
    "django-helpdesk/test_files/forwarded-message.eml",
    *(f"zammad/mail/mail{n:03}.box" for n in range(1, 16)),
)


def _corpus_mail(name: str) -> bytes:
    """A corpus message without its mbox envelope line, delivered to the IT alias so that
    it reaches the ticket stages instead of being ignored as mail to nobody."""
    raw = (CORPUS / name).read_bytes()
    if raw.startswith(b"From "):
        raw = raw.split(b"\n", 1)[1]
    return b"Delivered-To: it@example.com\n" + raw


def _archive(folder: Path) -> Path:
    mails = [mail.raw for mail in generate(BENCH_MAILS, tag="ahead")]
    mails += [_corpus_mail(name) for name in CORPUS_FILES]
    mails += mails[3:6]  # the same bytes twice in one archive
    return write_mbox(folder / "mixed.mbox", mails)


@pytest.fixture(autouse=True)
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Batches of 50, so that a small archive is several batches and the helper reads
    ahead of the writer as it does in a large import."""
    monkeypatch.setattr(importer, "BATCH", 50)


@pytest.fixture
def make_runtime(tmp_path: Path) -> Iterator[Any]:
    made: list[Runtime] = []
    with ScriptedSmtpServer() as smtp:

        def make(name: str) -> Runtime:
            runtime = runtime_for(f"sqlite:///{tmp_path}/{name}.db", smtp.port)
            made.append(runtime)
            return runtime

        yield make
        for runtime in made:
            runtime.close()


def _outcome(runtime: Runtime, archive: Path, *, read_ahead: bool) -> tuple[Any, ...]:
    code = import_path(runtime, archive, send_mail=False, out=io.StringIO(), read_ahead=read_ahead)
    assert code == 0
    with runtime.db.reader() as session:
        tickets = [
            (t.ref, t.subject, t.requester, t.language, t.department, t.owner)
            for t in session.scalars(select(Ticket).order_by(Ticket.id))
        ]
        inbound = session.execute(
            select(
                InboundMail.content_hash,
                InboundMail.outcome,
                InboundMail.ticket_refs,
                InboundMail.subject,
                InboundMail.from_address,
                InboundMail.duplicate_of.is_not(None),
            ).order_by(InboundMail.id)
        ).all()
    return tickets, [tuple(row) for row in inbound]


def _count_detections(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The texts classified in this process (the helper's are not seen here)."""
    seen: list[str] = []
    real = languages.detect_language

    def counted(text: str) -> str | None:
        seen.append(text)
        return real(text)

    monkeypatch.setattr(languages, "detect_language", counted)
    return seen


def test_the_helper_process_changes_nothing_but_where_the_work_is_done(
    make_runtime: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A batch in one part: the importer never takes work back from a slow helper, so
    # every request is classified there, however busy the machine.
    monkeypatch.setattr(import_ahead, "PART", 10**6)
    archive = _archive(tmp_path)
    detected = _count_detections(monkeypatch)
    alone = _outcome(make_runtime("alone"), archive, read_ahead=False)
    detected_alone = len(detected)
    detected.clear()
    helped = _outcome(make_runtime("helped"), archive, read_ahead=True)
    assert helped == alone
    tickets, inbound = alone
    assert len(tickets) > BENCH_MAILS // 2
    assert {language for *_, language, _, _ in tickets} >= {"de", "en"}  # detected
    outcomes = {outcome for _, outcome, *_ in inbound}
    assert {"new_ticket", "update_ticket", "duplicate"} <= outcomes
    # The helper classified the requests: only texts it could not know (a forwarded
    # request opens its ticket under another text) are classified here.
    assert detected_alone > BENCH_MAILS // 2
    assert len(detected) < detected_alone // 10


def test_parts_taken_back_from_the_helper_are_read_by_the_importer(
    make_runtime: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A mail at a time: the parts of a batch the helper has not begun when the writer
    needs them are cancelled and parsed (and later classified) by the importer."""
    archive = _archive(tmp_path)
    alone = _outcome(make_runtime("alone"), archive, read_ahead=False)
    monkeypatch.setattr(import_ahead, "PART", 1)
    taken_back: list[int] = []
    real = import_ahead.ReadAhead.collect

    def counted(self: import_ahead.ReadAhead, pending: import_ahead.Pending) -> Any:
        parsed = real(self, pending)
        taken_back.append(sum(1 for _, future in pending.parts if future and future.cancelled()))
        return parsed

    monkeypatch.setattr(import_ahead.ReadAhead, "collect", counted)
    assert _outcome(make_runtime("shared"), archive, read_ahead=True) == alone
    assert len(taken_back) == -(-len(alone[1]) // 50)  # a count per batch
    # The first batch is needed while the helper is still starting: most of it is taken back.
    assert taken_back[0] > 0


def test_without_a_helper_process_the_import_runs_in_its_own(
    make_runtime: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    archive = _archive(tmp_path)
    alone = _outcome(make_runtime("alone"), archive, read_ahead=False)
    monkeypatch.setattr(import_ahead, "get_context", lambda _method: get_context("no-such"))
    with caplog.at_level(logging.WARNING, logger="aliasdesk.import"):
        unhelped = _outcome(make_runtime("unhelped"), archive, read_ahead=True)
    assert unhelped == alone
    lost = [r for r in caplog.records if "import_helper_lost" in r.getMessage()]
    assert len(lost) == 1


def _helpers() -> list[psutil.Process]:
    return [
        child for child in psutil.Process().children() if "spawn_main" in " ".join(child.cmdline())
    ]


def _until_dead(process: psutil.Process) -> None:
    """Wait for the kill to land without reaping the process (psutil's ``wait`` would):
    multiprocessing must find its exit itself, or it counts it alive for ever."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if process.status() == psutil.STATUS_ZOMBIE:
                return
        except psutil.NoSuchProcess:
            return
        time.sleep(0.01)
    raise AssertionError(f"{process} outlived SIGKILL")


def test_a_helper_process_killed_midway_leaves_its_work_to_the_importer(
    make_runtime: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    archive = _archive(tmp_path)
    alone = _outcome(make_runtime("alone"), archive, read_ahead=False)
    real = importer.store_raw  # type: ignore[attr-defined]
    stored: list[int] = []

    def then_kill_the_helper(*args: Any, **kwargs: Any) -> Any:
        stored.append(1)
        if len(stored) == 2:
            helpers = _helpers()
            assert len(helpers) == 1
            os.kill(helpers[0].pid, signal.SIGKILL)
            _until_dead(helpers[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(importer, "store_raw", then_kill_the_helper)
    with caplog.at_level(logging.WARNING, logger="aliasdesk.import"):
        survived = _outcome(make_runtime("survived"), archive, read_ahead=True)
    assert survived == alone
    assert len(stored) > 3  # batches went on after the kill
    lost = [r for r in caplog.records if "import_helper_lost" in r.getMessage()]
    assert len(lost) == 1
    assert _helpers() == []


def test_the_helper_builds_a_ticket_s_text_as_the_ticket_stores_it() -> None:
    """Its classifications are found by the text a ticket carries: a subject it filled
    in otherwise would only be classified twice, but it should not be."""
    from aliasdesk.mail.parse import parse_mail

    bare = parse_mail(b"From: a@example.com\r\nTo: it@example.com\r\n\r\nHello there\r\n")
    assert import_ahead.opening_text(bare).split("\n", 1)[0] == "(no subject)"
    long = parse_mail(b"From: a@example.com\r\nSubject: " + b"x" * 1500 + b"\r\n\r\nHello\r\n")
    assert import_ahead.opening_text(long).split("\n", 1)[0] == "x" * 1000
