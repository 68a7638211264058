"""Queueing notifications: a delivery row plus an outbox job, in the caller's transaction.

The delivery is unique per (cause, kind, recipient), so a job that runs twice cannot queue
a second mail; its Message-ID is fixed here, at creation, so any resend is the same mail.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from aliasdesk.db.models import Delivery, Job, Ticket
from aliasdesk.db.txcache import cached_dict, cached_set

AUTO_REPLIED = "auto-replied"
AUTO_GENERATED = "auto-generated"
AUTO_ANSWERS_PER_HOUR = 10
MESSAGE_ID_DOMAIN = "aliasdesk.invalid"


def auto_submitted_for(kind: str) -> str:
    """RFC 3834 §5: an acknowledgement answers a mail; everything else is generated."""
    return AUTO_REPLIED if kind == "acknowledgement" else AUTO_GENERATED


def auto_answers_last_hour(session: Session, recipient: str, now: datetime) -> int:
    """Automatic answers queued to ``recipient`` within the hour, this transaction's included.

    Counted once per recipient and transaction, then kept up to date in memory as this
    transaction queues more (a batch of jobs would otherwise count again for every mail).
    """
    counts: dict[str, int] = cached_dict(session, "auto_answer_counts")
    if recipient not in counts:
        counts[recipient] = int(
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
    return counts[recipient]


def preload_notifications(
    session: Session, causes: Sequence[str], recipients: Sequence[str], now: datetime
) -> None:
    """Before a batch queues notifications for these causes and recipients: what exists
    and what was sent within the hour, in two queries instead of two per notification."""
    causes = list(dict.fromkeys(causes))
    known: set[tuple[str, str, str]] = cached_set(session, "queued_keys")
    loaded: set[str] = cached_set(session, "queued_causes")
    if causes:
        rows = session.execute(
            select(Delivery.cause, Delivery.kind, Delivery.recipient).where(
                Delivery.cause.in_(causes)
            )
        )
        known.update((cause, kind, recipient) for cause, kind, recipient in rows)
        loaded.update(causes)
    counts: dict[str, int] = cached_dict(session, "auto_answer_counts")
    wanted = [r for r in dict.fromkeys(recipients) if r not in counts]
    if wanted:
        found = dict(
            session.execute(
                select(Delivery.recipient, func.count())
                .where(
                    Delivery.recipient.in_(wanted),
                    Delivery.auto_submitted == AUTO_REPLIED,
                    Delivery.created_at >= now - timedelta(hours=1),
                )
                .group_by(Delivery.recipient)
            ).all()
        )
        counts.update({recipient: found.get(recipient, 0) for recipient in wanted})


def _queued_already(session: Session, cause: str, kind: str, recipient: str) -> bool:
    known: set[tuple[str, str, str]] = cached_set(session, "queued_keys")
    if (cause, kind, recipient) in known:
        return True
    if cause in cached_set(session, "queued_causes"):
        return False  # preloaded: every delivery of this cause is in ``known``
    with session.no_autoflush:  # rows this transaction added are in ``known`` already
        existing = session.scalar(
            select(Delivery.id).where(
                Delivery.cause == cause, Delivery.kind == kind, Delivery.recipient == recipient
            )
        )
    return existing is not None


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
    with --no-mail).

    The delivery and its job are added unflushed (the job learns the delivery's id when
    the session flushes both), so a batch writes its mail in one flush.
    """
    if not session.info.get("send_mail", True):
        return None
    if _queued_already(session, cause, kind, recipient):
        return None
    auto = auto_submitted_for(kind)
    if auto == AUTO_REPLIED:
        with session.no_autoflush:
            answered = auto_answers_last_hour(session, recipient, now)
        if answered >= AUTO_ANSWERS_PER_HOUR:
            return None
        cached_dict(session, "auto_answer_counts")[recipient] = answered + 1
    cached_set(session, "queued_keys").add((cause, kind, recipient))
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
    session.add(
        Job(
            kind="deliver",
            ticket_id=delivery.ticket_id,
            delivery=delivery,
            available_at=now,
            created_at=now,
        )
    )
    return delivery
