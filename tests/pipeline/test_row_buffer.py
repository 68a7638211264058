"""The session's row buffer (aliasdesk.db.bulk) behaves like the ORM's own pending rows,
on SQLite and PostgreSQL: readers see them, savepoints and rollbacks treat them right,
and a table's rows go in with one statement even when others need their ids."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from aliasdesk.db.bulk import table_of
from aliasdesk.db.models import Job, Ticket, TicketMessage
from aliasdesk.db.unit_of_work import BUFFER_NOT_READ, work_of
from aliasdesk.runtime import Runtime

JOBS, TICKETS, MESSAGES = table_of(Job), table_of(Ticket), table_of(TicketMessage)
NOW = datetime(2024, 5, 6, 9, 30, tzinfo=UTC)


def _job(kind: str, ticket: Any = None) -> dict[str, Any]:
    return {"kind": kind, "ticket_id": ticket, "payload": "{}", "state": "pending", "attempts": 0}


def _ticket(number: int) -> dict[str, Any]:
    return {
        "department": "HR",
        "number": number,
        "subject": f"Request {number}",
        "requester": f"r{number}@example.com",
        "status": "new",
        "priority": "normal",
        "reply_token": f"token{number:04d}",
        "created_at": NOW,
        "updated_at": NOW,
    }


def _message(ticket: Any, number: int) -> dict[str, Any]:
    return {
        "ticket_id": ticket,
        "direction": "in",
        "from_address": "x@example.com",
        "text": f"text {number}",
        "at": NOW,
    }


def _kinds(runtime: Runtime) -> list[str]:
    with runtime.db.reader() as session:
        return list(session.scalars(select(Job.kind).order_by(Job.id)))


def test_a_savepoint_rolled_back_keeps_what_was_queued_before_it(runtime: Runtime) -> None:
    with runtime.db.unit_of_work() as session:
        buffer = work_of(session).rows
        buffer.insert(JOBS, _job("before"))
        with pytest.raises(RuntimeError), session.begin_nested():
            buffer.insert(JOBS, _job("inside, written"))
            session.scalar(select(func.count()).select_from(Job))  # writes the buffer out
            buffer.insert(JOBS, _job("inside, pending"))
            raise RuntimeError("the savepoint fails")
        buffer.insert(JOBS, _job("after"))
    assert _kinds(runtime) == ["before", "after"]


def test_a_rolled_back_transaction_writes_nothing(runtime: Runtime) -> None:
    with pytest.raises(RuntimeError), runtime.db.unit_of_work() as session:
        work_of(session).rows.insert(JOBS, _job("never"))
        raise RuntimeError("the batch fails")
    assert _kinds(runtime) == []


def test_orm_queries_see_pending_rows_and_their_ids(runtime: Runtime) -> None:
    with runtime.db.unit_of_work() as session:
        buffer = work_of(session).rows
        ticket = buffer.draft(TICKETS, _ticket(1))
        buffer.insert(JOBS, _job("ticket_created", ticket))
        found = session.scalar(select(Ticket).where(Ticket.number == 1))
        assert found is not None and found.id == ticket.id
        job = session.scalar(select(Job))
        assert job is not None and job.ticket_id == found.id


def test_rows_that_need_ids_still_go_in_one_statement_per_table(
    runtime: Runtime, statements: list[str]
) -> None:
    with runtime.db.unit_of_work() as session:
        session.scalar(select(func.count()).select_from(Ticket))  # the transaction is open
        buffer = work_of(session).rows
        for number in range(1, 51):
            ticket = buffer.draft(TICKETS, _ticket(number))
            buffer.draft(MESSAGES, _message(ticket, number))
        del statements[:]
        buffer.flush()
        # Per table: reserve the ids, then one INSERT.
        assert len(statements) == 4, statements
    with runtime.db.reader() as session:
        pairs = session.execute(
            select(Ticket.number, TicketMessage.text).join(
                TicketMessage, TicketMessage.ticket_id == Ticket.id
            )
        ).all()
    assert sorted(pairs) == sorted((n, f"text {n}") for n in range(1, 51))


def test_a_statement_that_reads_none_of_the_buffer_leaves_it_pending(runtime: Runtime) -> None:
    with runtime.db.unit_of_work() as session:
        buffer = work_of(session).rows
        buffer.insert(JOBS, _job("pending"))
        unread = select(func.count()).select_from(Job).execution_options(**{BUFFER_NOT_READ: True})
        assert session.scalar(unread) == 0  # asked of what came before: the row is not written
        assert buffer.pending
        assert session.scalar(select(func.count()).select_from(Job)) == 1  # any other: written
        assert not buffer.pending
    assert _kinds(runtime) == ["pending"]
