"""A department's ticket counter and round-robin cursor are made by its first ticket and
only read and locked after that: every batch used to run an INSERT that did nothing
before reading them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event, select

from aliasdesk.db.models import Ticket
from aliasdesk.runtime import Runtime
from tests.support.harness import build_mail, drain_jobs, feed


@contextmanager
def _statements(runtime: Runtime) -> Iterator[list[str]]:
    seen: list[str] = []

    def note(_conn: object, _cursor: object, statement: str, *_rest: object) -> None:
        seen.append(" ".join(statement.split()).lower())

    event.listen(runtime.db.engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(runtime.db.engine, "before_cursor_execute", note)


def _touching(seen: list[str], verb: str, table: str) -> list[str]:
    return [s for s in seen if s.startswith(verb) and f" {table}" in s]


def test_the_rows_are_inserted_by_the_first_ticket_and_then_only_read(
    runtime: Runtime,
) -> None:
    sqlite = runtime.db.is_sqlite
    with _statements(runtime) as first:
        feed(runtime, build_mail(subject="first"))
        drain_jobs(runtime)
    assert _touching(first, "insert", "department_counters")
    if sqlite:  # PostgreSQL reserves its turns in a transaction of their own
        assert _touching(first, "insert", "assignment_cursors")

    with _statements(runtime) as later:
        feed(runtime, build_mail(subject="second"), build_mail(subject="third"))
        drain_jobs(runtime)
    assert not _touching(later, "insert", "department_counters")
    assert _touching(later, "select", "department_counters")
    if sqlite:
        assert not _touching(later, "insert", "assignment_cursors")
        assert _touching(later, "select", "assignment_cursors")

    with runtime.db.reader() as session:
        tickets = session.execute(select(Ticket.number, Ticket.owner).order_by(Ticket.id)).all()
    assert [number for number, _ in tickets] == [1, 2, 3]
    assert all(owner for _, owner in tickets)  # every one assigned, as before
