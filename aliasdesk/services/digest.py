"""Members' morning digest: once a day, at the routing file's ``digest`` time in the
department's time zone, each member who owns open tickets gets one mail listing them,
overdue first.

A digest is the delivery row keyed (cause ``digest:<local day>``, kind, member): the
unique key that keeps every mail single keeps this one single too, so a restart, a second
relay or a crash between queueing and sending never mails a member twice for one day,
and the row commits in the same transaction as the decision to send it.

A digest lists what was open at its moment: a ticket opened later that morning waits for
the next one. History imported with ``--no-mail`` is never listed (it sends nothing, now
or later). The relay looks every fraction of a second; a member whose digest of the day
has been dealt with is remembered in the process, so the database is asked once a day.

The digest's day and time, and the due times it shows, are in the time zone of the
member's department as ``department_timezone`` decides it (its calendar's, else UTC).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from typing import Any

from sqlalchemy import exists, or_, select
from sqlalchemy.orm import Session

from aliasdesk.db.models import InboundMail, SlaTimer, Ticket, TicketMessage
from aliasdesk.domain.organisation import RoutingConfig
from aliasdesk.domain.schedules import DailySchedule
from aliasdesk.notify.catalogue.member_digest import MEMBER_DIGEST
from aliasdesk.services.alerts import queue_from_aliasdesk
from aliasdesk.services.mail_facts import person_name
from aliasdesk.services.scheduled_mail import Rounds, due_departments
from aliasdesk.services.sla import ACTIVE, ESCALATED

LISTED = 40
"""Tickets one digest lists; the rest are counted ("… and 12 more")."""


@dataclass(frozen=True)
class _Due:
    """A member whose digest of ``day`` is due; ``moment`` is when, in ``zone``."""

    member: str
    day: date
    moment: datetime
    zone: tzinfo


class DigestRounds(Rounds[_Due]):
    """The members' digests: (member, local day) pairs this process settled."""

    def schedule(self, config: RoutingConfig) -> DailySchedule | None:
        return config.digest

    def due(self, config: RoutingConfig, now: datetime) -> list[_Due]:
        return _due(config, now)

    def key(self, item: _Due) -> tuple[str, date]:
        return item.member, item.day

    def queue(
        self, session: Session, config: RoutingConfig, items: Sequence[_Due], now: datetime
    ) -> int:
        return queue_digests(session, config, items, now)


def _due(config: RoutingConfig, now: datetime) -> list[_Due]:
    """Each member once (in their first department's zone), where a digest is due now.

    A member who opted out in any department's list gets none: they asked not to; nor
    does one marked away (on holiday) in a department: their inbox can wait."""
    found: dict[str, _Due] = {}
    opted_out = {m for dept in config.departments.values() for m in (*dept.no_digest, *dept.away)}
    for due in due_departments(config, config.digest, now):
        for member in due.department.members:
            if member not in found and member not in opted_out:
                found[member] = _Due(member, due.day, due.moment, due.zone)
    return list(found.values())


def queue_digests(
    session: Session, config: RoutingConfig, due: Sequence[_Due], now: datetime
) -> int:
    """One digest per member in ``due`` who owns open tickets, in the caller's transaction."""
    by_member = {d.member: d for d in due}
    tickets = _open_tickets(session, list(by_member))
    targets = _targets(session, [t.id for t in tickets])
    queued = 0
    for member, entry in by_member.items():
        theirs = [t for t in tickets if t.owner == member and t.created_at < entry.moment]
        if not theirs:
            continue
        lines = sorted((_line(config, t, targets.get(t.id), now) for t in theirs), key=_order)
        context = {
            "day": entry.day.isoformat(),
            "zone": str(entry.zone),
            "tickets": [line for line, _ in lines[:LISTED]],
            "more": max(0, len(lines) - LISTED),
        }
        cause = f"digest:{entry.day.isoformat()}"
        queued += queue_from_aliasdesk(
            session, config, MEMBER_DIGEST.name, member, cause, context, now
        )
    return queued


def _open_tickets(session: Session, members: list[str]) -> list[Ticket]:
    """The open tickets these members own, live ones only (not ``--no-mail`` history)."""
    history = exists().where(
        TicketMessage.ticket_id == Ticket.id,
        InboundMail.id == TicketMessage.inbound_id,
        InboundMail.send_mail.is_(False),
    )
    return list(
        session.scalars(
            select(Ticket).where(Ticket.owner.in_(members), Ticket.status.in_(ACTIVE), ~history)
        )
    )


def _targets(session: Session, ticket_ids: list[int]) -> dict[int, tuple[str, datetime]]:
    """Each ticket's earliest target still to meet: (target, due moment).

    Breach timers not fired yet, and those that fired an escalation (missed, and still
    missed); a first-response target met since, or one whose moment found it met, is not
    counted. Read in one query for all the tickets of the round.
    """
    if not ticket_ids:
        return {}
    rows = session.execute(
        select(SlaTimer.ticket_id, SlaTimer.kind, SlaTimer.due_at, Ticket.first_response_at)
        .join(Ticket, Ticket.id == SlaTimer.ticket_id)
        .where(
            SlaTimer.ticket_id.in_(ticket_ids),
            SlaTimer.kind.like("%breach"),
            or_(SlaTimer.fired_at.is_(None), SlaTimer.outcome == ESCALATED),
        )
    )
    found: dict[int, tuple[str, datetime]] = {}
    for ticket_id, kind, due_at, first_response_at in rows:
        target = kind.removesuffix("_breach")
        if target == "first_response" and first_response_at is not None:
            continue
        if ticket_id not in found or due_at < found[ticket_id][1]:
            found[ticket_id] = (target, due_at)
    return found


def _line(
    config: RoutingConfig, ticket: Ticket, target: tuple[str, datetime] | None, now: datetime
) -> tuple[dict[str, Any], tuple[int, float]]:
    """One ticket as the digest stores it, and its place in the list: overdue first (the
    longest overdue on top), then by due moment, then on hold or without a target, oldest
    first."""
    department = config.departments.get(ticket.department)
    line: dict[str, Any] = {
        "ref": ticket.ref,
        "subject": ticket.subject,
        "status": ticket.status,
        "priority": ticket.priority,
        "department_name": department.name if department else ticket.department,
        "requester_name": person_name(config, ticket.requester, ticket.requester_name),
        "created_at": ticket.created_at.isoformat(),
        "on_hold": ticket.sla_paused_at is not None,
    }
    if ticket.sla_paused_at is not None or target is None:
        return line, (2, ticket.created_at.timestamp())
    name, due_at = target
    line.update(target=name, due_at=due_at.isoformat())
    if due_at <= now:
        line["overdue_s"] = int((now - due_at).total_seconds())
        return line, (0, due_at.timestamp())
    return line, (1, due_at.timestamp())


def _order(entry: tuple[dict[str, Any], tuple[int, float]]) -> tuple[int, float]:
    return entry[1]
