"""Queueing notifications: a delivery row plus an outbox job, in the caller's transaction.

The delivery is unique per (cause, kind, recipient), so a job that runs twice cannot queue
a second mail; its Message-ID is fixed here, at creation, so any resend is the same mail.
"""

from __future__ import annotations

import json
import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from aliasdesk.db.models import Delivery, Job, Ticket

AUTO_REPLIED = "auto-replied"
AUTO_GENERATED = "auto-generated"
AUTO_ANSWERS_PER_HOUR = 10
MESSAGE_ID_DOMAIN = "aliasdesk.invalid"


def auto_submitted_for(kind: str) -> str:
    """RFC 3834 §5: an acknowledgement answers a mail; everything else is generated."""
    return AUTO_REPLIED if kind == "acknowledgement" else AUTO_GENERATED


def auto_answers_last_hour(session: Session, recipient: str, now: datetime) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(Delivery)
            .where(
                Delivery.recipient == recipient,
                Delivery.auto_submitted == AUTO_REPLIED,
                Delivery.created_at >= now - timedelta(hours=1),
            )
        )
        or 0
    )


def queue_notification(
    session: Session,
    *,
    kind: str,
    recipient: str,
    sender: str,
    cause: str,
    now: datetime,
    ticket: Ticket | None = None,
    context: dict[str, Any] | None = None,
    domain: str = MESSAGE_ID_DOMAIN,
) -> Delivery | None:
    """Queue one mail; None when it exists already for this cause or is capped (RFC 3834),
    or when the unit of work sends no mail (``session.info["send_mail"]``, old mail imported
    with --no-mail)."""
    if not session.info.get("send_mail", True):
        return None
    existing = session.scalar(
        select(Delivery).where(
            Delivery.cause == cause, Delivery.kind == kind, Delivery.recipient == recipient
        )
    )
    if existing is not None:
        return None
    auto = auto_submitted_for(kind)
    if auto == AUTO_REPLIED and auto_answers_last_hour(session, recipient, now) >= (
        AUTO_ANSWERS_PER_HOUR
    ):
        return None
    token = secrets.token_hex(6)
    ref = ticket.ref if ticket is not None else "admin"
    delivery = Delivery(
        ticket_id=ticket.id if ticket is not None else None,
        kind=kind,
        cause=cause,
        recipient=recipient,
        sender=sender,
        message_id=f"<{ref}.{kind}.{token}@{domain}>",
        auto_submitted=auto,
        context=json.dumps(context or {}, default=str),
        created_at=now,
    )
    session.add(delivery)
    session.flush()
    session.add(
        Job(
            kind="deliver",
            ticket_id=delivery.ticket_id,
            delivery_id=delivery.id,
            available_at=now,
            created_at=now,
        )
    )
    return delivery
