"""Queries shared by services: counters under row locks, ticket lookups, inbound log."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TypeVar

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from aliasdesk.db.models import AssignmentCursor, DepartmentCounter, Ticket
from aliasdesk.db.txcache import cached_dict
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
    """
    held: dict[tuple[type[Row], str], Row] = cached_dict(session, "locked_rows")
    row = held.get((model, department))
    if row is not None and row in session:
        return row
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(model).values(department=department, **initial)
    session.execute(statement.on_conflict_do_nothing(index_elements=["department"]))
    row = session.scalar(
        select(model)
        .where(model.department == department)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert row is not None
    held[(model, department)] = row
    return row


def next_ticket_number(session: Session, department: str) -> int:
    """The department's next number; its counter row stays locked until commit."""
    row = _locked_row(session, DepartmentCounter, department, last_number=0)
    row.last_number += 1
    return row.last_number


def take_round_robin_turn(session: Session, department: str) -> int:
    """The cursor before this turn; the caller stores the advanced value via set_cursor."""
    return _locked_row(session, AssignmentCursor, department, position=0).position


def set_round_robin_cursor(session: Session, department: str, value: int) -> None:
    _locked_row(session, AssignmentCursor, department, position=0).position = value


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
