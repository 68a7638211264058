"""The unit of work a session carries, on SQLite and PostgreSQL: what it read once and the
rows it still holds are forgotten by any rollback, a savepoint's included, and a unit that
sends no mail queues none."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from aliasdesk.db.models import Delivery
from aliasdesk.db.unit_of_work import work_of
from aliasdesk.runtime import Runtime
from aliasdesk.services.notifications import preload_notifications, queue_notification

NOW = datetime(2024, 5, 6, 9, 30, tzinfo=UTC)
REQUESTER = "requester@example.com"


def _queue(session: Session, cause: str = "inbound:1") -> Delivery | None:
    return queue_notification(
        session,
        kind="acknowledgement",
        recipient=REQUESTER,
        sender="hr@example.com",
        cause=cause,
        now=NOW,
    )


def _deliveries(runtime: Runtime) -> int:
    with runtime.db.reader() as session:
        return session.scalar(select(func.count()).select_from(Delivery)) or 0


def test_a_rolled_back_savepoint_forgets_what_it_queued(runtime: Runtime) -> None:
    with runtime.db.unit_of_work() as session:
        with pytest.raises(RuntimeError), session.begin_nested():
            assert _queue(session) is not None
            assert (("inbound:1", "acknowledgement", REQUESTER)) in work_of(
                session
            ).known.queued_keys
            raise RuntimeError("the mail fails")
        known = work_of(session).known
        assert not known.queued_keys and not known.auto_answer_counts
        assert _queue(session) is not None  # not mistaken for queued already
    assert _deliveries(runtime) == 1


def test_a_rollback_drops_the_pending_rows_and_the_read_once_facts(runtime: Runtime) -> None:
    with runtime.db.unit_of_work() as session:
        preload_notifications(session, ["inbound:1"], [REQUESTER], NOW)
        work = work_of(session)
        assert work.known.queued_causes == {"inbound:1"}
        work.known.first_texts[1] = "an opening message"
        session.rollback()
        assert work_of(session) is work
        assert not work.known.queued_causes and not work.known.first_texts
        assert not work.rows.pending


def test_each_transaction_starts_from_nothing(runtime: Runtime) -> None:
    with runtime.db.unit_of_work() as session:
        assert _queue(session) is not None
        first = work_of(session)
    with runtime.db.unit_of_work() as session:
        second = work_of(session)
        assert second is not first and not second.known.queued_keys
        assert _queue(session) is None  # it exists: found in the database, not in memory
    assert _deliveries(runtime) == 1


def test_a_unit_that_sends_no_mail_queues_none(runtime: Runtime) -> None:
    with runtime.db.unit_of_work() as session:
        work_of(session).send_mail = False
        assert _queue(session) is None
        work_of(session).send_mail = True
        assert _queue(session, cause="inbound:2") is not None
    assert _deliveries(runtime) == 1
