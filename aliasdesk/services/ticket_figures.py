"""The figures of a ticket, recorded the moment they happen: first response, resolution,
reopens, and the targets the ticket was opened under.

Recording them as they happen (instead of deriving them from the history later) keeps
the report a matter of SQL aggregates over ticket columns, and makes the figures honest
by construction:

- first response is the first *public* reply by a department member; acknowledgements,
  status mails and other automatic mail, and internal notes never count;
- resolution is the first time the ticket is resolved (or closed without being
  resolved); a reopen does not wipe it, it counts in ``reopen_count``;
- both are kept as moments and as business seconds of the department's calendar, less
  the business time the clock stood still (``sla.pause_on``).

Imported history runs through the same code with the mails' own dates as ``now``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from aliasdesk.db.models import Ticket
from aliasdesk.domain.calendars import business_between
from aliasdesk.domain.organisation import RoutingConfig
from aliasdesk.domain.sla_clock import calendar_of, targets_for

FINISHED = ("resolved", "closed")
SECOND = timedelta(seconds=1)


def counted_seconds(ticket: Ticket, config: RoutingConfig, now: datetime) -> int:
    """Business seconds since the ticket opened, without the time its clock stood still."""
    calendar = calendar_of(config.departments.get(ticket.department))
    stopped = timedelta(seconds=ticket.sla_paused_s or 0)
    if ticket.sla_paused_at is not None:
        stopped += business_between(calendar, ticket.sla_paused_at, now)
    elapsed = business_between(calendar, ticket.created_at, now) - stopped
    return max(int(elapsed // SECOND), 0)


def record_targets(ticket: Ticket, config: RoutingConfig) -> None:
    """The department's targets for the ticket's priority, as it opens."""
    targets = targets_for(config.departments.get(ticket.department), ticket.priority)
    first, resolution = targets.first_response, targets.resolution
    ticket.target_first_response_s = int(first // SECOND) if first is not None else None
    ticket.target_resolution_s = int(resolution // SECOND) if resolution is not None else None


def record_first_response(ticket: Ticket, config: RoutingConfig, now: datetime) -> None:
    """A member's public reply went to the requester: the first one is the first response."""
    if ticket.first_response_at is None:
        ticket.first_response_at = now
        ticket.first_response_s = counted_seconds(ticket, config, now)


def record_status(ticket: Ticket, old: str, config: RoutingConfig, now: datetime) -> None:
    """After a status change from ``old``: the first resolution, or one more reopen.

    Called before the clock follows the new status, so a ticket resolved straight from
    ``pending`` does not count its wait.
    """
    if ticket.status in FINISHED and ticket.resolved_at is None:
        ticket.resolved_at = now
        ticket.resolution_s = counted_seconds(ticket, config, now)
    elif old in FINISHED and ticket.status not in FINISHED:
        ticket.reopen_count = (ticket.reopen_count or 0) + 1
