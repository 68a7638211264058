"""Queries shared by services: counters under row locks, round-robin turns, ticket lookups,
inbound log."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TypeVar

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from aliasdesk.db.models import AssignmentCursor, DepartmentCounter, Ticket
from aliasdesk.db.unit_of_work import work_of
from aliasdesk.domain.refs import parse_ref

Row = TypeVar("Row", DepartmentCounter, AssignmentCursor)
ACTIVE = ("new", "open", "pending")


def _locked_row(session: Session, model: type[Row], department: str, **initial: int) -> Row:
    """The department's row of ``model``, locked for this transaction (made on first use).

    Locked once per transaction, then kept: a batch opening or assigning many tickets of
    one department reads the row once and counts on in memory (the lock is this
    transaction's already); the value is written when the session flushes. After any
    rollback the row is locked and read again: on PostgreSQL a rolled-back savepoint also
    gives up the locks taken inside it.

    The row is read first and made only when it is missing (once per department, ever):
    an INSERT that does nothing on every transaction cost more than the read.
    """
    held = work_of(session).known.locked_rows
    row: Row | None = held.get((model, department))
    if row is not None and row in session:
        return row
    row = _lock(session, model, department)
    if row is None:
        dialect = session.get_bind().dialect.name
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        statement = insert(model).values(department=department, **initial)
        # Another transaction may make it first: then this waits for it, and reads it.
        session.execute(statement.on_conflict_do_nothing(index_elements=["department"]))
        row = _lock(session, model, department)
    assert row is not None
    held[(model, department)] = row
    return row


def _lock(session: Session, model: type[Row], department: str) -> Row | None:
    return session.scalar(
        select(model)
        .where(model.department == department)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def next_ticket_number(session: Session, department: str) -> int:
    """The department's next number; its counter row stays locked until commit."""
    row = _locked_row(session, DepartmentCounter, department, last_number=0)
    row.last_number += 1
    return row.last_number


def take_round_robin_turn(session: Session, department: str) -> int:
    """The cursor before this turn; the caller stores the advanced value via set_cursor.

    On SQLite the cursor row is read and written inside the caller's transaction: SQLite
    has one writer at a time anyway, and a second transaction beside the first could
    only wait for it. On PostgreSQL the turn comes from turns reserved for this
    transaction (see reserve_round_robin_turns), one more is reserved if none is left.
    """
    if not _reserves_turns(session):
        return _locked_row(session, AssignmentCursor, department, position=0).position
    spare = work_of(session).known.reserved_turns.get(department)
    if spare is None or spare[0] >= spare[1]:
        reserve_round_robin_turns(session, {department: 1})
        spare = work_of(session).known.reserved_turns[department]
    position: int = spare[0]
    return position


def set_round_robin_cursor(session: Session, department: str, value: int) -> None:
    if not _reserves_turns(session):
        _locked_row(session, AssignmentCursor, department, position=0).position = value
        return
    work_of(session).known.reserved_turns[department][0] = value


def reserve_round_robin_turns(session: Session, wanted: Mapping[str, int]) -> None:
    """PostgreSQL: take ``wanted[department]`` consecutive turns now, committed at once.

    The cursor row would otherwise stay locked from a batch's first assignment to its
    commit, and every worker assigning in that department would wait for the whole batch
    (measured: about 1.6 of the 8 worker connections of two workers waited on this lock
    at any moment). A reservation is one statement in a transaction of its own, so the
    lock lasts one round trip. Turns are handed out once, whatever happens next: a batch
    that rolls back skips the turns it reserved, it never gives one out twice.
    """
    if not _reserves_turns(session):
        return
    book = work_of(session).known.reserved_turns
    with session.get_bind().engine.begin() as connection:
        for department in sorted(wanted):  # one order: two reservations never deadlock
            turns = wanted[department]
            if turns <= 0:
                continue
            statement = (
                pg_insert(AssignmentCursor)
                .values(department=department, position=turns)
                .on_conflict_do_update(
                    index_elements=["department"],
                    set_={"position": AssignmentCursor.position + turns},
                )
                .returning(AssignmentCursor.position)
            )
            end = connection.execute(statement).scalar_one()
            book[department] = [end - turns, end]


def _reserves_turns(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def active_counts(session: Session, members: Sequence[str]) -> dict[str, int]:
    rows = session.execute(
        select(Ticket.owner, func.count())
        .where(Ticket.owner.in_(list(members)), Ticket.status.in_(ACTIVE))
        .group_by(Ticket.owner)
    )
    return {owner: count for owner, count in rows if owner}


def ticket_by_ref(session: Session, ref: str) -> Ticket | None:
    parsed = parse_ref(ref)
    return session.scalar(
        select(Ticket).where(Ticket.department == parsed.department, Ticket.number == parsed.number)
    )


def touch(ticket: Ticket, now: datetime) -> None:
    ticket.updated_at = now
