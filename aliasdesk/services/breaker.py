"""The outside-mail breaker: a ceiling on automatic mail to outside addresses (CONTRACT §5).

A mail loop with a robot the loop checks do not recognise, or a flood of forged requests,
would otherwise make aliasdesk mail strangers as fast as SMTP allows: the organisation's
server gets listed as a spam source. So at most ``ALIASDESK_OUTSIDE_MAIL_PER_MINUTE``
mails (of any kind) go to outside addresses in any minute; "outside" is every address that
is not an alias, a member or an admin in the routing file. Mail to those is never held.

Past the limit, further outside mail is *held*: it stays ``pending`` and its job is put
back with a later ``available_at`` (when the oldest mail of the minute leaves the window),
so it goes out by itself as the rate falls, never dropped. The admins are alerted once per
*trip*: a trip starts with the first hold and lasts while mail keeps being held; five
minutes without a hold end it (held mail is looked at again about once a minute, so a
flood that goes on keeps its trip), and the next hold starts a new trip with a new alert.

The count is of outside mail handed to SMTP in the last minute (``claimed_at``; a failed
try clears it), committed claims only: workers claiming at the same moment may together
pass the limit by one batch each. Opening a trip is serialised (SQLite's write lock, a
PostgreSQL advisory lock), so concurrent workers alert once.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, select, text, update
from sqlalchemy.orm import Session

from aliasdesk.db.models import BreakerTrip, Delivery, Job
from aliasdesk.domain.organisation import RoutingConfig
from aliasdesk.notify.catalogue.outside_mail_held import OUTSIDE_MAIL_HELD
from aliasdesk.services.alerts import queue_admin_alert

__all__ = [
    "DEFAULT_PER_MINUTE",
    "WINDOW",
    "admit",
    "inside",
    "outside",
    "per_minute",
    "set_per_minute",
    "status",
]

log = logging.getLogger("aliasdesk.breaker")
DEFAULT_PER_MINUTE = 120
WINDOW = timedelta(minutes=1)
TRIP_QUIET = timedelta(minutes=5)
"""A trip ends after this long without a hold."""
SHOWN_RECIPIENTS = 5
_ADVISORY_KEY = 0x616C6273  # any constant of ours: one breaker per database
_limit = [DEFAULT_PER_MINUTE]


def set_per_minute(limit: int) -> None:
    """The process's limit, from settings at start-up; 0 turns the breaker off."""
    _limit[0] = max(0, limit)


def per_minute() -> int:
    return _limit[0]


def inside(config: RoutingConfig) -> set[str]:
    """Every alias, member and admin of ``config``: mail to them is never held."""
    found = set(config.all_aliases()) | {a.strip().lower() for a in config.admins}
    return found | {m for department in config.departments.values() for m in department.members}


def outside(config: RoutingConfig, recipients: Sequence[str]) -> set[str]:
    """The recipients (as given) that are no alias, member or admin of ``config``."""
    staff = inside(config)
    return {r for r in recipients if r.strip().lower() not in staff}


def admit(
    session: Session, delivery_ids: Sequence[int], config: RoutingConfig, now: datetime
) -> list[int]:
    """The deliveries that may be claimed now, in the caller's (claiming) transaction.

    Outside mail over the minute's limit is held instead: its jobs come back when the
    window has room, and the admins hear of the trip once.
    """
    limit = per_minute()
    if limit == 0 or not delivery_ids:
        return list(delivery_ids)
    rows = session.execute(
        select(Delivery.id, Delivery.recipient).where(
            Delivery.id.in_(list(delivery_ids)), Delivery.state.in_(("pending", "sending"))
        )
    ).all()
    strangers = outside(config, [recipient for _, recipient in rows])
    waiting = sorted(delivery_id for delivery_id, recipient in rows if recipient in strangers)
    if not waiting:
        return list(delivery_ids)
    if _count_handed_over(session, config, now) + len(waiting) <= limit:
        return list(delivery_ids)
    _lock(session)
    recent = _handed_over(session, config, now)  # read again: others may have sent meanwhile
    held = waiting[max(0, limit - len(recent)) :]
    if not held:
        return list(delivery_ids)
    _hold(session, held, recent, limit, now)
    _record_trip(session, config, held, now)
    kept = set(held)
    return [delivery_id for delivery_id in delivery_ids if delivery_id not in kept]


def _count_handed_over(session: Session, config: RoutingConfig, now: datetime) -> int:
    """How many outside mails were handed to SMTP in the last minute: one count in the
    database, the common case on every claim (the list below only when mail is held)."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(Delivery)
            .where(
                Delivery.claimed_at >= now - WINDOW,
                Delivery.state.in_(("sending", "sent")),
                Delivery.recipient.not_in(sorted(inside(config))),
            )
        )
        or 0
    )


def status(session: Session, now: datetime, limit: int) -> tuple[dict[str, Any], str | None]:
    """What ``aliasdesk status`` shows of the breaker, and a problem sentence while a trip
    is in course (mail is being held: a loop or a flood an admin should look at)."""
    trip = session.scalar(select(BreakerTrip).order_by(BreakerTrip.id.desc()).limit(1))
    holding = trip is not None and trip.last_held_at >= now - TRIP_QUIET
    facts: dict[str, Any] = {"per_minute": limit, "holding": holding}
    if trip is None or not holding:
        return facts, None
    facts.update(since=trip.opened_at.isoformat(), held=trip.holds)
    problem = (
        f"outside mail held since {trip.opened_at:%Y-%m-%d %H:%M} UTC: more than "
        f"{trip.per_minute} automatic mails a minute to outside addresses (what waits: "
        "aliasdesk deliveries list)"
    )
    return facts, problem


def _handed_over(session: Session, config: RoutingConfig, now: datetime) -> list[datetime]:
    """When each outside mail of the last minute was handed to SMTP, oldest first."""
    rows = session.execute(
        select(Delivery.recipient, Delivery.claimed_at)
        .where(Delivery.claimed_at >= now - WINDOW, Delivery.state.in_(("sending", "sent")))
        .order_by(Delivery.claimed_at)
    ).all()
    strangers = outside(config, [recipient for recipient, _ in rows])
    return [at for recipient, at in rows if recipient in strangers and at is not None]


def _lock(session: Session) -> None:
    """Serialise the hold decision on PostgreSQL until this transaction ends (SQLite's
    writer holds its database lock already)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_KEY})


def _hold(
    session: Session, held: list[int], recent: list[datetime], limit: int, now: datetime
) -> None:
    """Put each held mail's job back until its turn: the n-th held mail waits for the n-th
    oldest mail of the window to leave it (and later ones for further minutes), so held
    mail comes back a few at a time instead of all at once."""
    turns = []
    for n, delivery_id in enumerate(held):
        at = recent[n] + WINDOW if n < len(recent) else now + WINDOW * (1 + n // limit)
        turns.append({"held_delivery": delivery_id, "turn": max(at, now + timedelta(seconds=1))})
    jobs = cast(Table, Job.__table__)  # Core: one executemany, a turn per job
    session.execute(
        update(jobs)
        .where(jobs.c.delivery_id == bindparam("held_delivery"), jobs.c.state != "done")
        .values(state="pending", published_at=None, available_at=bindparam("turn")),
        turns,
    )
    log.info("event=outside_mail_held count=%d first_turn=%s", len(held), turns[0]["turn"])


def _record_trip(session: Session, config: RoutingConfig, held: list[int], now: datetime) -> None:
    """Extend the running trip, or open one and alert the admins (once per trip)."""
    trip = session.scalar(select(BreakerTrip).order_by(BreakerTrip.id.desc()).limit(1))
    if trip is not None and trip.last_held_at >= now - TRIP_QUIET:
        trip.last_held_at, trip.holds = now, trip.holds + len(held)
        return
    trip = BreakerTrip(opened_at=now, last_held_at=now, holds=len(held), per_minute=per_minute())
    session.add(trip)
    session.flush()
    recipients = session.scalars(
        select(Delivery.recipient).where(Delivery.id.in_(held)).order_by(Delivery.id)
    ).all()
    facts = {
        "per_minute": trip.per_minute,
        "opened_at": now.isoformat(),
        "held": len(held),
        "recipients": sorted(set(recipients))[:SHOWN_RECIPIENTS],
    }
    cause = f"breaker:{trip.id}"
    queued = queue_admin_alert(session, config, OUTSIDE_MAIL_HELD.name, cause, facts, now)
    log.warning(
        "event=outside_mail_breaker_tripped trip=%s per_minute=%d held=%d alerts=%d",
        trip.id,
        trip.per_minute,
        len(held),
        queued,
    )
