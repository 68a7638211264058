"""Mail to the admins about things only an admin can fix: quarantined mail and a refused
routing file. Neither is about a ticket, so these deliveries have no ticket.

Both are found by looking (not hooked into intake or the file watcher), from the relay's
loop: what needs an alert is a fact in the database or the routing holder, and the
delivery's cause (``quarantine:<inbound id>``, ``routing-refused:<digest>``) is the record
that it was raised, so a restart, a second relay or a retried mail never alerts twice.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import String, and_, cast, exists, literal, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from aliasdesk.db.models import Delivery, InboundMail
from aliasdesk.db.session import Database
from aliasdesk.domain.organisation import RoutingConfig
from aliasdesk.notify.catalogue.quarantine_alert import QUARANTINE_ALERT
from aliasdesk.notify.catalogue.routing_refused import ROUTING_REFUSED
from aliasdesk.services.notifications import MESSAGE_ID_DOMAIN, queue_notification
from aliasdesk.services.routing_holder import Refusal, RoutingHolder

log = logging.getLogger("aliasdesk.alerts")
ALERT_WINDOW = timedelta(days=7)
"""Quarantined mail older than this gets no alert: an upgrade, or a database restored from
a backup, must not mail the admins about every mail ever quarantined."""
BATCH = 100


def alert_sender(config: RoutingConfig) -> str:
    """Alerts come from an address that is no department's alias: an admin's reply must
    not open a ticket in some department."""
    return f"aliasdesk-noreply@{_domain(config)}"


def _domain(config: RoutingConfig) -> str:
    return config.domains[0] if config.domains else MESSAGE_ID_DOMAIN


def queue_admin_alerts(db: Database, routing: RoutingHolder, now: datetime) -> int:
    """Everything the admins should hear about now; returns the mails queued."""
    config = routing.current()
    queued = queue_quarantine_alerts(db, config, now)
    if routing.refusal is not None:
        queued += queue_routing_refused_alert(db, config, routing.refusal, now)
    return queued


def queue_quarantine_alerts(db: Database, config: RoutingConfig, now: datetime) -> int:
    """One alert per admin for each quarantined mail that has none yet.

    Never to the quarantined mail's own sender (CONTRACT §5: quarantined mail is never
    answered), even when that sender is an admin. Duplicates are logged as ``duplicate``,
    not quarantined, so they raise nothing.
    """
    if not config.admins:
        return 0
    cause = literal("quarantine:") + cast(InboundMail.id, String)
    alerted = exists().where(Delivery.kind == QUARANTINE_ALERT.name, Delivery.cause == cause)
    recent = or_(
        InboundMail.processed_at >= now - ALERT_WINDOW,
        and_(InboundMail.processed_at.is_(None), InboundMail.received_at >= now - ALERT_WINDOW),
    )
    return _queue_safely(
        db, lambda session: _quarantine_batch(session, config, now, alerted, recent)
    )


def _quarantine_batch(
    session: Session, config: RoutingConfig, now: datetime, alerted: Any, recent: Any
) -> int:
    rows = session.scalars(
        select(InboundMail)
        .where(InboundMail.state == "quarantined", ~alerted, recent)
        .order_by(InboundMail.id)
        .limit(BATCH)
    ).all()
    queued = 0
    for row in rows:
        facts = {
            "quarantine_id": row.id,
            "reason": row.reason or "",
            "message_id": row.message_id,
            "from_address": row.from_address,
            "subject": row.subject,
            "received_at": row.received_at.isoformat(),
        }
        sender = (row.from_address or "").strip().lower()
        for admin in config.admins:
            if admin.lower() == sender:
                continue
            queued += queue_from_aliasdesk(
                session, config, QUARANTINE_ALERT.name, admin, f"quarantine:{row.id}", facts, now
            )
    return queued


def queue_routing_refused_alert(
    db: Database, config: RoutingConfig, refusal: Refusal, now: datetime
) -> int:
    """One alert per admin of ``config`` (the rules still in force) for this refused version."""
    facts = {
        "path": str(refusal.error.errors[0].path) if refusal.error.errors else "",
        "problems": list(refusal.problems),
        "refused_at": refusal.at.isoformat(),
    }

    def queue(session: Session) -> int:
        cause = f"routing-refused:{refusal.digest}"
        return sum(
            queue_from_aliasdesk(session, config, ROUTING_REFUSED.name, admin, cause, facts, now)
            for admin in config.admins
        )

    return _queue_safely(db, queue)


def queue_admin_alert(
    session: Session,
    config: RoutingConfig,
    kind: str,
    cause: str,
    facts: dict[str, Any],
    now: datetime,
) -> int:
    """One alert of ``kind`` to every admin, in the caller's transaction (an alert raised
    where its cause is decided, such as the outside-mail breaker); returns mails queued."""
    return sum(
        queue_from_aliasdesk(session, config, kind, admin, cause, facts, now)
        for admin in config.admins
    )


def queue_from_aliasdesk(
    session: Session,
    config: RoutingConfig,
    kind: str,
    recipient: str,
    cause: str,
    facts: dict[str, Any],
    now: datetime,
) -> int:
    """One mail from aliasdesk itself (not a department's alias), in the caller's
    transaction: an alert, a digest, a report. 0 where its delivery (cause, kind,
    recipient) was queued already."""
    delivery = queue_notification(
        session,
        kind=kind,
        recipient=recipient,
        sender=alert_sender(config),
        cause=cause,
        now=now,
        context=facts,
        domain=_domain(config),
    )
    return 0 if delivery is None else 1


def _queue_safely(db: Database, work: Any) -> int:
    """Run ``work`` in one unit of work. Another relay queueing the same alert at the same
    moment makes the unique (cause, kind, recipient) key refuse ours: theirs stands."""
    try:
        with db.unit_of_work() as session:
            queued = int(work(session))
    except IntegrityError:
        log.info("event=alert_raced detail=queued by another process")
        return 0
    if queued:
        log.info("event=admin_alerts queued=%d", queued)
    return queued
