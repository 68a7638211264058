"""The ticket state machine as a transition table.

new -> open when a department member first acts; pending waits on the requester;
resolved invites feedback and can be reopened by the requester's reply; closed is final
(a reply to a closed ticket opens a new, linked ticket instead).
"""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    NEW = "new"
    OPEN = "open"
    PENDING = "pending"
    RESOLVED = "resolved"
    CLOSED = "closed"


class Priority(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


class TransitionError(ValueError):
    """A status change the ticket's life cycle does not allow."""

    def __init__(self, current: Status, target: Status) -> None:
        allowed = ", ".join(sorted(s.value for s in ALLOWED[current])) or "nothing (final)"
        super().__init__(
            f"a {current.value} ticket cannot become {target.value}; allowed: {allowed}"
        )
        self.current = current
        self.target = target


ALLOWED: dict[Status, frozenset[Status]] = {
    Status.NEW: frozenset({Status.OPEN, Status.PENDING, Status.RESOLVED, Status.CLOSED}),
    Status.OPEN: frozenset({Status.PENDING, Status.RESOLVED, Status.CLOSED}),
    Status.PENDING: frozenset({Status.OPEN, Status.RESOLVED, Status.CLOSED}),
    # Reopening: a requester's reply or a member's "#status open".
    Status.RESOLVED: frozenset({Status.OPEN, Status.CLOSED}),
    Status.CLOSED: frozenset(),
}


def can_transition(current: Status, target: Status) -> bool:
    return target in ALLOWED[current]


def transition(current: Status, target: Status) -> Status:
    """Return ``target`` if the move is allowed, else raise TransitionError."""
    if not can_transition(current, target):
        raise TransitionError(current, target)
    return target


def is_active(status: Status) -> bool:
    """Work still to do: counts towards an owner's load and towards SLA clocks."""
    return status in {Status.NEW, Status.OPEN, Status.PENDING}
