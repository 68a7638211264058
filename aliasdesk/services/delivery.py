"""Sending one delivery: claim it, send it, record it (STYLE.md, the crash story, step 5).

The claim is committed before the SMTP call. A worker that dies after the server's 250
but before recording it leaves a stale claim; after the lease another worker sends the
stored bytes again, with the same Message-ID, so the recipient sees one mail.
"""

from __future__ import annotations

import json
import logging
import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from sqlalchemy import or_, update
from sqlalchemy.orm import Session

from aliasdesk.db.models import Delivery, Job, Ticket, TicketMessage
from aliasdesk.db.session import Database
from aliasdesk.domain.organisation import RoutingConfig
from aliasdesk.notify.mailer import PermanentDeliveryError, TransientDeliveryError
from aliasdesk.notify.render import TemplateRenderer
from aliasdesk.services.rendering import render_delivery
from aliasdesk.services.tickets import add_event

log = logging.getLogger("aliasdesk.delivery")
CLAIM_LEASE = timedelta(seconds=120)
MAX_ATTEMPTS = 12
WORKER_NAME = f"{socket.gethostname()}:{os.getpid()}"


class MailSender(Protocol):
    def send(self, sender: str, recipients: list[str], message: bytes) -> str: ...


@dataclass(frozen=True)
class DeliveryOutcome:
    state: str
    detail: str


def backoff(attempts: int) -> timedelta:
    """5 s, 10 s, 20 s … capped at 10 minutes."""
    return timedelta(seconds=min(600, 5 * 2 ** max(0, attempts - 1)))


def claim(
    db: Database,
    delivery_id: int,
    config: RoutingConfig,
    renderer: TemplateRenderer,
    instance_id: str,
    now: datetime,
) -> Delivery | None:
    """Take the delivery for this worker (committed), rendering it on first claim."""
    with db.unit_of_work() as session:
        claimed = session.execute(
            update(Delivery)
            .where(
                Delivery.id == delivery_id,
                or_(
                    Delivery.state == "pending",
                    (Delivery.state == "sending") & (Delivery.claimed_at < now - CLAIM_LEASE),
                ),
            )
            .values(
                state="sending",
                claimed_by=WORKER_NAME,
                claimed_at=now,
                attempts=Delivery.attempts + 1,
            )
            .execution_options(synchronize_session=False)
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            return None
        delivery = session.get(Delivery, delivery_id, populate_existing=True)
        assert delivery is not None
        if delivery.rendered is None:
            delivery.rendered = render_delivery(session, delivery, config, renderer, instance_id)
        session.expunge(delivery)
        return delivery


def deliver(
    db: Database,
    delivery_id: int,
    sender: MailSender,
    config: RoutingConfig,
    renderer: TemplateRenderer,
    instance_id: str,
) -> DeliveryOutcome:
    now = datetime.now(UTC)
    delivery = claim(db, delivery_id, config, renderer, instance_id, now)
    if delivery is None:
        return _not_claimed(db, delivery_id)
    assert delivery.rendered is not None
    try:
        reply = sender.send(delivery.sender, [delivery.recipient], delivery.rendered)
    except TransientDeliveryError as error:
        return _transient(db, delivery_id, str(error))
    except PermanentDeliveryError as error:
        return _permanent(db, delivery_id, str(error))
    return _sent(db, delivery_id, reply)


def _not_claimed(db: Database, delivery_id: int) -> DeliveryOutcome:
    with db.reader() as session:
        delivery = session.get(Delivery, delivery_id)
        state = delivery.state if delivery else "missing"
    return DeliveryOutcome(state if state != "sending" else "busy", "not claimed")


def _sent(db: Database, delivery_id: int, reply: str) -> DeliveryOutcome:
    now = datetime.now(UTC)
    with db.unit_of_work() as session:
        delivery = session.get(Delivery, delivery_id)
        assert delivery is not None
        delivery.state, delivery.sent_at, delivery.last_error = "sent", now, None
        kind = delivery.kind
        _record_outbound(session, delivery, now)
        _finish_jobs(session, delivery_id, now)
    log.info("event=sent delivery=%s kind=%s", delivery_id, kind)
    return DeliveryOutcome("sent", reply)


def _record_outbound(session: Session, delivery: Delivery, now: datetime) -> None:
    """Store what was sent on the ticket, so replies to it thread and history shows it."""
    if delivery.ticket_id is None:
        return
    text = json.loads(delivery.context or "{}").get("reply_text", "")
    session.add(
        TicketMessage(
            ticket_id=delivery.ticket_id,
            direction="out",
            internal=delivery.kind
            not in {"acknowledgement", "reply_relay", "status_update", "feedback_request"},
            from_address=delivery.sender,
            to_addresses=json.dumps([delivery.recipient]),
            subject=f"({delivery.kind})",
            message_id=delivery.message_id,
            text=text or f"{delivery.kind} sent to {delivery.recipient}",
            delivery_id=delivery.id,
            at=now,
        )
    )


def _transient(db: Database, delivery_id: int, error: str) -> DeliveryOutcome:
    now = datetime.now(UTC)
    with db.unit_of_work() as session:
        delivery = session.get(Delivery, delivery_id)
        assert delivery is not None
        if delivery.attempts >= MAX_ATTEMPTS:
            return _fail(
                session, delivery, f"gave up after {delivery.attempts} tries: {error}", now
            )
        delivery.state, delivery.last_error = "pending", error[:2000]
        for job in session.query(Job).filter(Job.delivery_id == delivery_id, Job.state != "done"):
            job.state, job.published_at = "pending", None
            job.available_at = now + backoff(delivery.attempts)
            job.last_error = error[:2000]
    log.warning("event=retry delivery=%s error=%r", delivery_id, error[:200])
    return DeliveryOutcome("pending", error)


def _permanent(db: Database, delivery_id: int, error: str) -> DeliveryOutcome:
    now = datetime.now(UTC)
    with db.unit_of_work() as session:
        delivery = session.get(Delivery, delivery_id)
        assert delivery is not None
        return _fail(session, delivery, error, now)


def _fail(session: Session, delivery: Delivery, error: str, now: datetime) -> DeliveryOutcome:
    delivery.state, delivery.last_error = "failed", error[:2000]
    ticket = session.get(Ticket, delivery.ticket_id) if delivery.ticket_id else None
    if ticket is not None:
        add_event(
            session,
            ticket,
            "note",
            "aliasdesk",
            f"{delivery.kind} to {delivery.recipient} could not be delivered: {error[:300]}",
            now,
        )
    _finish_jobs(session, delivery.id, now)
    log.error("event=delivery_failed delivery=%s error=%r", delivery.id, error[:200])
    return DeliveryOutcome("failed", error)


def _finish_jobs(session: Session, delivery_id: int, now: datetime) -> None:
    session.execute(
        update(Job)
        .where(Job.delivery_id == delivery_id, Job.state != "done")
        .values(state="done", done_at=now)
    )
