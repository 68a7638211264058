"""Retrying quarantined mail goes through the intake's one batch path: on SQLite and
PostgreSQL, a mail that fails again is quarantined alone with its traceback, the others
become tickets, and the results come back in the order of the mails."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from aliasdesk.db.models import InboundMail, Ticket
from aliasdesk.runtime import Runtime
from aliasdesk.services import filing
from aliasdesk.services.quarantine import retry
from aliasdesk.services.tickets import link_tickets
from tests.support.harness import build_mail, feed


def _request(n: int, subject: str) -> bytes:
    return build_mail(
        sender=f"Person {n} <person{n}@example.com>",
        subject=f"{subject} {n}",
        message_id=f"<retry-{n}@example.com>",
    )


def _break_on(monkeypatch: pytest.MonkeyPatch, *subjects: str) -> None:
    def link_or_break(session: Any, tickets: Any, **how: Any) -> None:
        if any(t.row.values["subject"] in subjects for t in tickets):
            raise RuntimeError("linking broke on purpose")
        link_tickets(session, tickets, **how)

    monkeypatch.setattr(filing, "link_tickets", link_or_break)


def test_a_retried_batch_quarantines_only_the_mail_that_fails_again(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    _break_on(monkeypatch, "Broken 2", "Broken 3", "Broken 4")
    first = feed(runtime, _request(1, "Fine"), *(_request(n, "Broken") for n in (2, 3, 4)))
    assert [r.outcome for r in first] == ["new_ticket", "quarantined", "quarantined", "quarantined"]

    _break_on(monkeypatch, "Broken 3")  # the fix helps mails 2 and 4, not 3
    results = retry(runtime.db, None, runtime.routing.current, runtime.pipeline_settings)

    ids = [r.inbound_id for r in first[1:]]
    assert [r.inbound_id for r in results] == ids
    assert [r.outcome for r in results] == ["new_ticket", "quarantined", "new_ticket"]
    with runtime.db.reader() as session:
        still = session.get(InboundMail, ids[1])
        assert still is not None and still.state == "quarantined"
        assert still.error is not None and "linking broke on purpose" in still.error
        subjects = sorted(session.scalars(select(Ticket.subject)))
    assert subjects == ["Broken 2", "Broken 4", "Fine 1"]
