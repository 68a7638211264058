"""The SLA clock: when a target falls due, and how waiting on the requester moves it.

Every piece of SLA time arithmetic lives here: the targets that apply to a ticket, the due
moments of a new ticket, the shift after a pause, the moment old imported mail is dated
to. Targets count in the department's business time (:mod:`aliasdesk.domain.calendars`);
a department without a calendar runs round the clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

from aliasdesk.domain.calendars import ROUND_THE_CLOCK, BusinessCalendar, add_business
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

    A priority with targets of its own (``sla: {urgent: {first_response: 1h}}``) takes
    them; whatever it leaves out is the department-wide target.
    """
    if department is None:
        return SlaTargets()
    first, resolution = department.sla_first_response, department.sla_resolution
    for name, own_first, own_resolution in department.sla_by_priority:
        if name == priority:
            first = own_first if own_first is not None else first
            resolution = own_resolution if own_resolution is not None else resolution
    return SlaTargets(first, resolution)


def calendar_of(department: Department | None) -> BusinessCalendar:
    return department.calendar if department is not None else ROUND_THE_CLOCK


def due_moments(
    started: datetime, targets: SlaTargets, calendar: BusinessCalendar = ROUND_THE_CLOCK
) -> list[tuple[str, datetime]]:
    """The warning and the breach moment of each target, as (timer kind, due at), in the
    calendar's business time."""
    moments: list[tuple[str, datetime]] = []
    for name, target in targets.named():
        warning = add_business(calendar, started, target * WARNING_SHARE)
        moments.append((f"{name}_warning", warning))
        moments.append((f"{name}_breach", add_business(calendar, started, target)))
    return moments


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
