"""What one transaction carries besides its session: whether it may send mail, the facts it
read once and keeps up to date in memory, and the rows it writes behind the ORM's back.

One typed object per session instead of loose entries in ``session.info``: every field has
one name and one type, a reader cannot misspell a key, and whatever a rollback must forget
is listed in one place.

Any rollback, a savepoint's included, forgets the read-once facts and drops the pending
rows: the rows the facts describe may be gone with it, SQLite may hand the rolled-back
rows' ids out again, and pending rows were never written, so there is nothing to undo.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction

from aliasdesk.db.bulk import RowBuffer

__all__ = ["BUFFER_NOT_READ", "ReadOnce", "UnitOfWork", "work_of"]

_KEY = "aliasdesk_unit_of_work"
BUFFER_NOT_READ = "aliasdesk_buffer_not_read"
"""Execution option of a statement that needs none of the row buffer's rows, because what
it looks for in them is known in memory already (``ReadOnce``): the buffer is not written
out before it. Without it, a reply's check that its relay was not queued before wrote
the previous mail's one or two rows, so a batch of replies wrote a row at a time."""


@dataclass
class ReadOnce:
    """Facts a transaction asked the database for once, instead of once per mail."""

    queued_keys: set[tuple[str, str, str]] = field(default_factory=set)
    """(cause, kind, recipient) of every delivery known to exist."""
    queued_causes: set[str] = field(default_factory=set)
    """Causes whose deliveries were all loaded into ``queued_keys``."""
    auto_answer_counts: dict[tuple[str, bool], int] = field(default_factory=dict)
    """(recipient, every kind?) -> automatic mail queued to it within the hour."""
    notices_queued: set[tuple[int, str, str]] = field(default_factory=set)
    """(ticket id, kind, recipient) of the mail this transaction queued."""
    member_notice_counts: dict[str, int] = field(default_factory=dict)
    """"kind recipient" -> notices of that kind within the hour ("your mail changed
    nothing" to a member, the neutral answer to staff outside the ticket)."""
    open_counts: dict[str, dict[str, int]] = field(default_factory=dict)
    """Department -> member -> open tickets."""
    first_texts: dict[int, str] = field(default_factory=dict)
    """Ticket id -> the text of its opening message."""
    requester_seen: dict[int, list[str]] = field(default_factory=dict)
    """Ticket id -> the texts of its public messages (what the requester read), kept up
    to date as this transaction adds them."""
    same_mail_links: dict[int, tuple[tuple[str, int], ...]] = field(default_factory=dict)
    """Ticket id -> (department, number) of the tickets opened with it from the same mail."""
    request_file_rows: dict[int, tuple[tuple[Any, ...], ...]] = field(default_factory=dict)
    """Ticket id -> its opening message's files as (id, name, type, size, inline, missing)."""
    locked_rows: dict[tuple[type[Any], str], Any] = field(default_factory=dict)
    """(model, department) -> that department's row, locked by this transaction."""
    reserved_turns: dict[str, list[int]] = field(default_factory=dict)
    """Department -> [next round-robin turn, end of the turns reserved] (PostgreSQL)."""
    own_languages: dict[str, str | None] = field(default_factory=dict)
    """Lower-cased address -> its ``#lang`` choice (None: none), for a batch's requesters."""
    earlier_languages: dict[str, str | None] = field(default_factory=dict)
    """Requester -> the language of their latest ticket that has one, for a batch's."""
    detected_languages: dict[int, str | None] = field(default_factory=dict)
    """Ticket id -> the language its request is written in (None: not sure), detected
    before the transaction began so that no writer waits while a text is read."""


class UnitOfWork:
    """The per-transaction state of one session (see the module docstring)."""

    def __init__(self, session: Session) -> None:
        self.send_mail = True
        """False while old mail imported with --no-mail runs: it changes tickets, mails nobody."""
        self.known = ReadOnce()
        self.rows = RowBuffer(session)

    def forget(self) -> None:
        """After a rollback: nothing read or pending before it can be trusted."""
        self.known = ReadOnce()
        self.rows.discard()


def work_of(session: Session) -> UnitOfWork:
    """The session's unit of work, made on first use; it lives as long as the session."""
    work = session.info.get(_KEY)
    if work is None:
        work = session.info[_KEY] = UnitOfWork(session)
    assert isinstance(work, UnitOfWork)
    return work


def _pending_rows(session: Session) -> RowBuffer | None:
    work = session.info.get(_KEY)
    return work.rows if work is not None else None


# The row buffer is written out, like the ORM's own autoflush, before anything could look
# for its rows or point at them (aliasdesk.db.bulk says why each moment matters).


@event.listens_for(Session, "before_flush")
def _before_orm_flush(session: Session, _context: object, _instances: object) -> None:
    rows = _pending_rows(session)
    if rows is not None:
        rows.flush()


@event.listens_for(Session, "do_orm_execute")
def _before_orm_statement(state: ORMExecuteState) -> None:
    rows = _pending_rows(state.session)
    if rows is not None and not state.execution_options.get(BUFFER_NOT_READ, False):
        rows.flush()


@event.listens_for(Session, "before_commit")
def _before_commit(session: Session) -> None:
    rows = _pending_rows(session)
    if rows is not None:
        rows.flush()


@event.listens_for(Session, "after_transaction_create")
def _before_savepoint(session: Session, transaction: SessionTransaction) -> None:
    """Rows pending when a savepoint begins belong to the enclosing transaction: they are
    written on its connection before the SAVEPOINT is sent (which waits for the first
    statement inside), so rolling the savepoint back cannot take them along. The ORM
    flushes its own pending rows at the same moment."""
    rows = _pending_rows(session)
    if rows is None or not rows.pending or not transaction.nested:
        return
    assert transaction.parent is not None
    rows.flush(transaction.parent.connection(None))


@event.listens_for(Session, "after_soft_rollback")
def _after_rollback(session: Session, _previous: SessionTransaction) -> None:
    work = session.info.get(_KEY)
    if isinstance(work, UnitOfWork):
        work.forget()
