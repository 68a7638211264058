"""Round-robin turns: only departments that hand out turns ask for one, and on PostgreSQL
a turn is reserved in a short transaction of its own.

Before, every new ticket row-locked its department's cursor until its batch committed, so
a second worker assigning in that department waited for the first one's whole batch (seen
in pg_stat_activity during the two-worker benchmark). Now a transaction that takes a turn
never waits for another one's commit, a turn is never handed out twice, and a batch that
rolls back only skips the turns it reserved.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from aliasdesk.db.models import AssignmentCursor, Ticket
from aliasdesk.runtime import Runtime
from aliasdesk.services.assignment import assign_new_ticket
from tests.support.harness import build_mail, drain_jobs, feed, runtime_for
from tests.support.smtp_script import ScriptedSmtpServer

ALICE, BOB = "alice@example.com", "bob@example.com"


@pytest.fixture
def pg_runtime(postgres_url: str, smtp: ScriptedSmtpServer) -> Iterator[Runtime]:
    rt = runtime_for(postgres_url, smtp.port)
    yield rt
    rt.close()


def _open(runtime: Runtime, *subjects: str) -> None:
    """New HR tickets (round robin: alice, bob), committed and not yet assigned."""
    feed(runtime, *[build_mail(subject=subject) for subject in subjects])


def _assign(runtime: Runtime, session: Session, subject: str) -> str | None:
    ticket = session.scalars(select(Ticket).where(Ticket.subject == subject)).one()
    assign_new_ticket(
        session, ticket, runtime.routing.current(), datetime.now(UTC), send_mail=False
    )
    session.flush()
    return ticket.owner


def _cursor(runtime: Runtime, department: str) -> int | None:
    with runtime.db.reader() as session:
        return session.scalar(
            select(AssignmentCursor.position).where(AssignmentCursor.department == department)
        )


def test_a_second_transaction_does_not_wait_for_the_first_ones_commit(
    pg_runtime: Runtime,
) -> None:
    _open(pg_runtime, "first", "second")
    with pg_runtime.db.unit_of_work() as first:
        first_owner = _assign(pg_runtime, first, "first")
        with pg_runtime.db.unit_of_work() as second:
            # a wait for the first transaction's lock fails after 2 s instead of hanging
            second.execute(text("SET LOCAL lock_timeout = '2s'"))
            second_owner = _assign(pg_runtime, second, "second")
        # the second transaction has committed while the first is still open
    assert {first_owner, second_owner} == {ALICE, BOB}
    assert _cursor(pg_runtime, "HR") == 2


def test_a_rolled_back_turn_is_skipped_never_given_twice(pg_runtime: Runtime) -> None:
    _open(pg_runtime, "rolled back", "next")
    with pytest.raises(RuntimeError), pg_runtime.db.unit_of_work() as doomed:
        assert _assign(pg_runtime, doomed, "rolled back") == ALICE
        raise RuntimeError("the batch fails after taking turn 1")
    with pg_runtime.db.unit_of_work() as session:
        again = _assign(pg_runtime, session, "rolled back")
        after = _assign(pg_runtime, session, "next")
    # turn 1 (alice) went with the rollback: the retry gets turn 2, the next ticket turn 3
    assert (again, after) == (BOB, ALICE)
    assert _cursor(pg_runtime, "HR") == 3


def test_a_batch_reserves_exactly_the_turns_it_gives_out(pg_runtime: Runtime) -> None:
    subjects = [f"request {n}" for n in range(5)]
    _open(pg_runtime, *subjects)
    drain_jobs(pg_runtime)
    with pg_runtime.db.reader() as session:
        owners = session.scalars(
            select(Ticket.owner).where(Ticket.department == "HR").order_by(Ticket.number)
        ).all()
    assert owners == [ALICE, BOB, ALICE, BOB, ALICE]
    assert _cursor(pg_runtime, "HR") == 5  # no turn reserved and left unused


def test_departments_without_turns_never_touch_a_cursor(runtime: Runtime) -> None:
    feed(
        runtime,
        build_mail(sender="p1@example.com", to="it@example.com"),  # least_loaded
        build_mail(sender="p2@example.com", to="facilities@example.com"),  # fixed, present
        build_mail(sender="p3@example.com", to="finance@example.com"),  # round_robin
    )
    drain_jobs(runtime)
    with runtime.db.reader() as session:
        cursors = dict(
            session.execute(select(AssignmentCursor.department, AssignmentCursor.position)).all()
        )
        owners = dict(session.execute(select(Ticket.department, Ticket.owner)).all())
    assert cursors == {"FIN": 1}
    assert owners["FAC"] == "frank@example.com" and owners["IT"] and owners["FIN"]
