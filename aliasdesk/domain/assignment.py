"""Owner policies: who gets a new ticket.

Pure decisions over the department's members; the database supplies the round-robin
cursor and the open-ticket counts so the choice is fair across restarts and processes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class OwnerChoice:
    owner: str | None
    reason: str
    next_cursor: int | None = None


def available_members(members: Sequence[str], away: Sequence[str]) -> list[str]:
    away_set = {a.lower() for a in away}
    return [m for m in members if m.lower() not in away_set]


def choose_owner(
    policy: str,
    members: Sequence[str],
    away: Sequence[str] = (),
    *,
    fixed_member: str | None = None,
    cursor: int = 0,
    open_counts: Mapping[str, int] | None = None,
) -> OwnerChoice:
    """Pick an owner by ``policy`` (round_robin, least_loaded, fixed, none).

    ``cursor`` is the department's round-robin position (how many tickets it has handed
    out); the caller stores ``next_cursor`` in the same transaction as the assignment.
    """
    present = available_members(members, away)
    if policy == "none" or not members:
        return OwnerChoice(None, "department assigns no owner automatically")
    if not present:
        return OwnerChoice(None, "every member is marked away")
    if policy == "fixed":
        if fixed_member and fixed_member in present:
            return OwnerChoice(fixed_member, f"fixed owner {fixed_member}")
        return _round_robin(present, cursor, f"fixed owner {fixed_member} is away; ")
    if policy == "least_loaded":
        counts = open_counts or {}
        best = min(present, key=lambda m: (counts.get(m, 0), present.index(m)))
        return OwnerChoice(best, f"least loaded ({counts.get(best, 0)} active tickets)")
    return _round_robin(present, cursor, "")


def takes_round_robin_turn(
    policy: str,
    members: Sequence[str],
    away: Sequence[str] = (),
    *,
    fixed_member: str | None = None,
) -> bool:
    """Whether ``choose_owner`` would use (and advance) the round-robin cursor.

    Only then does the caller need the cursor at all: asking for it costs a row lock or a
    reservation, which least-loaded and fixed-owner departments should never pay.
    """
    present = available_members(members, away)
    if policy in {"none", "least_loaded"} or not members or not present:
        return False
    if policy == "fixed":
        return not (fixed_member and fixed_member in present)
    return True


def _round_robin(present: Sequence[str], cursor: int, prefix: str) -> OwnerChoice:
    owner = present[cursor % len(present)]
    return OwnerChoice(owner, f"{prefix}round robin turn {cursor + 1}", next_cursor=cursor + 1)
