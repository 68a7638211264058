"""The SLA clock: when a target falls due, and how waiting on the requester moves it.

Every piece of SLA time arithmetic lives here, so that business-hours calendars can later
replace wall-clock time in one place: the due moments of a new ticket, the shift after a
pause, the moment old imported mail is dated to, and the targets that apply to a ticket.
Today the clock runs round the clock (plain ``datetime`` arithmetic).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

from aliasdesk.domain.organisation import Department

WARNING_SHARE = 0.8
"""The owner is warned when this share of a target's time has gone by."""
EARLIEST_MAIL = datetime(1980, 1, 1, tzinfo=UTC)
"""Older Date headers come from clocks that were never set (the epoch, 1970): not believed."""


@dataclass(frozen=True)
class SlaTargets:
    """How long a ticket may wait for its first response and for its resolution."""

    first_response: timedelta | None = None
    resolution: timedelta | None = None

    def named(self) -> tuple[tuple[str, timedelta], ...]:
        """The targets that are set, by the name their timers carry."""
        pairs = (("first_response", self.first_response), ("resolution", self.resolution))
        return tuple((name, target) for name, target in pairs if target is not None)


def targets_for(department: Department | None, priority: str) -> SlaTargets:
    """The targets a ticket of ``priority`` in ``department`` is held to.

    The routing file gives one pair per department today; ``priority`` is taken so that
    per-priority targets change only this function.
    """
    del priority  # the same targets for every priority until the routing file has them
    if department is None:
        return SlaTargets()
    return SlaTargets(department.sla_first_response, department.sla_resolution)


def due_moments(started: datetime, targets: SlaTargets) -> list[tuple[str, datetime]]:
    """The warning and the breach moment of each target, as (timer kind, due at)."""
    moments: list[tuple[str, datetime]] = []
    for name, target in targets.named():
        moments.append((f"{name}_warning", started + target * WARNING_SHARE))
        moments.append((f"{name}_breach", started + target))
    return moments


def paused_for(paused_at: datetime, resumed_at: datetime) -> timedelta:
    """How far the due moments move when the clock starts again (never backwards)."""
    return max(resumed_at - paused_at, timedelta())


def history_moment(date_header: str | None, received_at: datetime) -> datetime:
    """When an old mail was written, from its Date header (RFC 5322 §3.3).

    Imported history keeps its own dates. A header that cannot be read, or that claims a
    moment after the mail was taken in or before ``EARLIEST_MAIL`` (a wrong or unset clock,
    a forged date), gives ``received_at`` instead, so no ticket is ever dated in the future
    or at the epoch.
    """
    if not date_header:
        return received_at
    try:
        written = parsedate_to_datetime(date_header)
        if written.tzinfo is None:  # "-0000": the zone is unknown; UTC is the usual reading
            written = written.replace(tzinfo=UTC)
        written = written.astimezone(UTC)
    except (TypeError, ValueError, IndexError, OverflowError):
        return received_at
    if written < EARLIEST_MAIL:
        return received_at
    return min(written, received_at)
