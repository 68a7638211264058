"""What the intake and the assignment read ahead of their write transactions, on SQLite
and PostgreSQL: the intake parses each mail of a batch once, before the transaction
(intake_rows.parsed_ahead), and the assignment detects the language of each request
that needs it once, before its transaction (languages.detect_ahead). Neither may
change what comes out: the same outcomes, tickets and languages as when the work is
done inside the transaction, and a mail settled by someone else in between is not
processed twice.

"Before the transaction" is checked from inside the wrapped parse or detection: no
unit of work is open and, on SQLite, the writers' flock (``<database>-writers``) is
free to any other file description. The variants without read-ahead see both taken,
which shows the probe can tell.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import make_url, select
from sqlalchemy.orm import Session

from aliasdesk.db.models import InboundMail, Job, LanguageChoice, Ticket
from aliasdesk.db.session import Database
from aliasdesk.db.write_turns import SUFFIX
from aliasdesk.inbound.stages import parse as parse_stage
from aliasdesk.runtime import Runtime
from aliasdesk.services import intake, intake_rows, languages
from aliasdesk.services.intake import IntakeResult, RawMail, process_pending, store_raw
from aliasdesk.services.jobs import JobRunner
from tests.support.harness import build_mail


@dataclass
class Probe:
    """Where the database's writers stand, asked from inside a wrapped call."""

    db: Database
    writing: int = 0
    """Units of work open right now (any thread of this test)."""
    seen: list[tuple[str, bool]] = field(default_factory=list)
    """(what was called, whether a write transaction was under way)."""

    def note(self, what: str) -> None:
        self.seen.append((what, self.writing > 0 or not self._turn_is_free()))

    def _turn_is_free(self) -> bool:
        if not self.db.is_sqlite:
            return True
        database = make_url(self.db.url).database
        assert database is not None
        descriptor = os.open(database + SUFFIX, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        finally:
            os.close(descriptor)
        return True


@pytest.fixture
def probe(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> Probe:
    found = Probe(runtime.db)
    opened = runtime.db.unit_of_work

    @contextmanager
    def unit_of_work() -> Iterator[Session]:
        with opened() as session:
            found.writing += 1
            try:
                yield session
            finally:
                found.writing -= 1

    monkeypatch.setattr(runtime.db, "unit_of_work", unit_of_work)
    return found


def _count_parses(monkeypatch: pytest.MonkeyPatch, probe: Probe) -> None:
    def counting(parse: Any, where: str) -> Any:
        def counted(*args: Any, **kwargs: Any) -> Any:
            probe.note(where)
            return parse(*args, **kwargs)

        return counted

    for module, where in ((intake_rows, "ahead"), (parse_stage, "stage")):
        monkeypatch.setattr(module, "parse_mail", counting(module.parse_mail, where))


def _mails() -> list[bytes]:
    return [
        build_mail(
            sender="Eve <eve@example.com>",
            to="it@example.com",
            subject="Laptop will not boot",
            body="It stays black after the logo.",
            message_id="<laptop-ahead@example.com>",
        ),
        build_mail(
            sender="Eve <eve@example.com>",
            to="it@example.com",
            subject="Re: Laptop will not boot",
            body="It beeps three times.",
            headers={"In-Reply-To": "<laptop-ahead@example.com>"},
        ),
        build_mail(sender="Dave <dave@example.com>", subject="Parental leave"),
        build_mail(
            sender="Eve <eve@example.com>",
            to="it@example.com",
            subject="Re: [IT-1] Laptop will not boot",
            body="And now it smells.",
        ),
    ]


def _store(runtime: Runtime, raws: list[bytes]) -> list[int]:
    stored = store_raw(
        runtime.db,
        source="imap",
        mailbox="INBOX",
        uidvalidity=1,
        mails=[RawMail(raw, uid) for uid, raw in enumerate(raws, start=1)],
    )
    return [stored[uid] for uid in range(1, len(raws) + 1)]


def _process(runtime: Runtime) -> list[IntakeResult]:
    return process_pending(runtime.db, runtime.routing.current, runtime.pipeline_settings)


def _tickets(runtime: Runtime) -> list[tuple[str, str, str, list[str]]]:
    with runtime.db.reader() as session:
        return [
            (t.ref, t.requester, t.subject, [m.text.strip() for m in t.messages])
            for t in session.scalars(select(Ticket).order_by(Ticket.id))
        ]


@pytest.mark.parametrize("ahead", [True, False], ids=["read-ahead", "inside"])
def test_a_batch_is_parsed_once_per_mail_before_its_write_transaction(
    runtime: Runtime, probe: Probe, monkeypatch: pytest.MonkeyPatch, ahead: bool
) -> None:
    ids = _store(runtime, _mails())
    _count_parses(monkeypatch, probe)
    if not ahead:
        monkeypatch.setattr(intake, "parsed_ahead", lambda *_args: {})
    results = _process(runtime)
    assert [(r.inbound_id, r.outcome, r.ticket_refs) for r in results] == [
        (ids[0], "new_ticket", ("IT-1",)),
        (ids[1], "update_ticket", ("IT-1",)),
        (ids[2], "new_ticket", ("HR-1",)),
        (ids[3], "update_ticket", ("IT-1",)),
    ]
    if ahead:
        assert probe.seen == [("ahead", False)] * 4  # each mail once, nobody writing
    else:
        assert probe.seen == [("stage", True)] * 4  # the probe sees a transaction
    assert _tickets(runtime) == [
        (
            "IT-1",
            "eve@example.com",
            "Laptop will not boot",
            ["It stays black after the logo.", "It beeps three times.", "And now it smells."],
        ),
        ("HR-1", "dave@example.com", "Parental leave", ["Which form do I need?"]),
    ]


def test_a_mail_settled_between_read_ahead_and_transaction_is_not_processed_again(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    raws = [
        build_mail(sender="Dave <dave@example.com>", subject="Parental leave"),
        build_mail(sender="Zoe <zoe@example.com>", subject="Payslip missing"),
    ]
    ids = _store(runtime, raws)
    real = intake_rows.parsed_ahead
    elsewhere: list[IntakeResult] = []
    batches: list[list[int]] = []

    def then_another_gateway(db: Database, batch: Any, settings: Any) -> Any:
        batches.append(list(batch))
        parsed = real(db, batch, settings)
        if len(batches) == 1:  # the other gateway's batch (the next call) reads ahead too
            elsewhere.extend(
                intake.process_batch(db, [ids[0]], runtime.routing.current(), settings)
            )
        return parsed

    monkeypatch.setattr(intake, "parsed_ahead", then_another_gateway)
    results = _process(runtime)
    assert batches == [ids, [ids[0]]]
    assert [(r.inbound_id, r.outcome, r.ticket_refs) for r in elsewhere] == [
        (ids[0], "new_ticket", ("HR-1",))
    ]
    assert [(r.inbound_id, r.outcome, r.ticket_refs) for r in results] == [
        (ids[0], "new_ticket", ("HR-1",)),  # as the other gateway left it
        (ids[1], "new_ticket", ("HR-2",)),
    ]
    assert [(ref, who) for ref, who, _subject, _texts in _tickets(runtime)] == [
        ("HR-1", "dave@example.com"),
        ("HR-2", "zoe@example.com"),
    ]
    with runtime.db.reader() as session:
        attempts = session.scalars(select(InboundMail.attempts).order_by(InboundMail.id)).all()
    assert attempts == [1, 1]


REQUESTS = {
    "dieter@example.com": (
        "Elternzeit ab Juni",
        "Guten Tag, ich möchte ab dem ersten Juni Elternzeit nehmen. Welches Formular "
        "brauche ich dafür und bis wann muss ich es abgeben?",
    ),
    "francoise@example.com": (
        "Congé parental à partir de juin",
        "Bonjour, je souhaite prendre un congé parental à partir du premier juin. Quel "
        "formulaire dois-je remplir et avant quelle date faut-il le rendre ?",
    ),
    "emma@example.com": (
        "Parental leave from June",
        "Hello, I would like to take parental leave from the first of June. Which form "
        "do I have to fill in and by when does it have to be handed in?",
    ),
}
OLGA = ("olga@example.com", "Congé annuel", REQUESTS["francoise@example.com"][1])
"""Writes French but chose German with #lang: her choice decides."""
PIERRE = ("pierre@example.com", "Urlaubsantrag", REQUESTS["dieter@example.com"][1])
"""Writes German now, but his earlier ticket was French: that decides."""


def _jobs_for_new_tickets(runtime: Runtime, mails: list[tuple[str, str, str]]) -> list[int]:
    """The new tickets' assignment jobs, none run yet."""
    _store_more(runtime, mails)
    _process(runtime)
    with runtime.db.reader() as session:
        return list(
            session.scalars(
                select(Job.id)
                .where(Job.kind == "ticket_created", Job.state != "done")
                .order_by(Job.id)
            )
        )


_next_uid = iter(range(100, 10_000))


def _store_more(runtime: Runtime, mails: list[tuple[str, str, str]]) -> None:
    raws = [build_mail(sender=who, subject=subject, body=body) for who, subject, body in mails]
    store_raw(
        runtime.db,
        source="imap",
        mailbox="INBOX",
        uidvalidity=1,
        mails=[RawMail(raw, next(_next_uid)) for raw in raws],
    )


def _languages(runtime: Runtime) -> dict[str, list[str | None]]:
    found: dict[str, list[str | None]] = {}
    with runtime.db.reader() as session:
        for requester, language in session.execute(
            select(Ticket.requester, Ticket.language).order_by(Ticket.id)
        ):
            found.setdefault(requester, []).append(language)
    return found


@pytest.mark.parametrize("ahead", [True, False], ids=["read-ahead", "inside"])
def test_assignment_detects_each_undecided_language_once_before_its_transaction(
    runtime: Runtime, probe: Probe, monkeypatch: pytest.MonkeyPatch, ahead: bool
) -> None:
    runner = runtime.job_runner()
    earlier = _jobs_for_new_tickets(runtime, [(PIERRE[0], *REQUESTS["francoise@example.com"])])
    runner.run_many(earlier)
    with runtime.db.unit_of_work() as session:
        session.add(LanguageChoice(address=OLGA[0], language="de", chosen_at=datetime.now(UTC)))
    batch = _jobs_for_new_tickets(
        runtime, [(who, *request) for who, request in REQUESTS.items()] + [OLGA, PIERRE]
    )
    assert len(batch) == 5

    detect = languages.detect_language

    def detected(text: str) -> str | None:
        probe.note(text.partition("\n")[0])  # the subject
        return detect(text)

    monkeypatch.setattr(languages, "detect_language", detected)
    if not ahead:
        monkeypatch.setattr(JobRunner, "_languages_ahead", lambda _self, _ids: {})
    details = runner.run_many(batch)
    assert sorted(details) == batch
    subjects = [subject for subject, _body in REQUESTS.values()]
    # Olga's and Pierre's requests are never read for their language.
    assert sorted(probe.seen) == sorted((subject, not ahead) for subject in subjects)
    assert _languages(runtime) == {
        "pierre@example.com": ["fr", "fr"],
        "dieter@example.com": ["de"],
        "francoise@example.com": ["fr"],
        "emma@example.com": ["en"],
        "olga@example.com": ["de"],
    }
