"""Facts a transaction read once and keeps in memory for the rest of it (what exists of a
batch's mail, counts it keeps up to date as it goes), instead of asking the database again
for every mail.

Any rollback, a savepoint's included, forgets them all: the rows they describe may be gone
with it, and SQLite may hand the rolled-back rows' ids out again.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

__all__ = ["cached_dict", "cached_set"]

_KEYS: set[str] = set()


def cached_dict(session: Session, key: str) -> dict[Any, Any]:
    """The transaction's dict under ``key`` (empty at first)."""
    _KEYS.add(key)
    value: dict[Any, Any] = session.info.setdefault(key, {})
    return value


def cached_set(session: Session, key: str) -> set[Any]:
    """The transaction's set under ``key`` (empty at first)."""
    _KEYS.add(key)
    value: set[Any] = session.info.setdefault(key, set())
    return value


@event.listens_for(Session, "after_soft_rollback")
def _forget(session: Session, _previous: object) -> None:
    for key in _KEYS:
        session.info.pop(key, None)
