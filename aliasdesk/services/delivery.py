"""Sending one delivery: claim it, send it, record it (STYLE.md, the crash story, step 5).

The claim is committed before the SMTP call. A worker that dies after the server's 250
but before recording it leaves a stale claim; after the lease another worker sends the
stored bytes again, with the same Message-ID, so the recipient sees one mail.

Two knobs, read from the environment when used so tests and operators can shrink them:

- ``ALIASDESK_CLAIM_LEASE_SECONDS`` (default 120): how long a claim protects a delivery
  from other workers. Keep it well above the SMTP timeout (30 s), or a slow but healthy
  send is taken over and the recipient gets the mail twice.
- ``ALIASDESK_RETRY_BASE_SECONDS`` (default 5): the first retry delay after a transient
  SMTP error; each further try doubles it, capped at ten minutes.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from aliasdesk.db.models import Delivery, Job, Ticket
from aliasdesk.db.session import Database
from aliasdesk.notify.catalogue import kind_named
from aliasdesk.notify.render import TemplateError
from aliasdesk.services.send_order import hold_back
from aliasdesk.services.tickets import add_event
from aliasdesk.settings.environment import environment_value

log = logging.getLogger("aliasdesk.delivery")
LEASE_VARIABLE = "ALIASDESK_CLAIM_LEASE_SECONDS"
RETRY_BASE_VARIABLE = "ALIASDESK_RETRY_BASE_SECONDS"
DEFAULT_CLAIM_LEASE = 120.0
DEFAULT_RETRY_BASE = 5.0
MAX_BACKOFF = timedelta(minutes=10)
# With the 10-minute cap, 300 tries keep going through about two days of SMTP outage
# before a mail is given up (and recorded as failed on its ticket).
DEFAULT_MAX_ATTEMPTS = 300
MAX_ATTEMPTS_VARIABLE = "ALIASDESK_MAX_DELIVERY_ATTEMPTS"
NOT_RENDERED = "cannot render the mail"
"""Recorded for a mail a template failed to render: the installation's fault, not the mail's."""
NOT_BUILT = "cannot build the mail"
"""Recorded for a mail compose refused (an address from the inbound mail it cannot use)."""


def _seconds(variable: str, default: float) -> float:
    """A non-negative number of seconds from the environment; a bad value keeps the default
    (logged), because a typo here must not stop mail from going out."""
    text = environment_value(variable).strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if value < 0:
        log.error("event=bad_setting variable=%s value=%r default=%s", variable, text, default)
        return default
    return value


def max_attempts() -> int:
    return max(1, int(_seconds(MAX_ATTEMPTS_VARIABLE, DEFAULT_MAX_ATTEMPTS)))


def claim_lease() -> timedelta:
    return timedelta(seconds=_seconds(LEASE_VARIABLE, DEFAULT_CLAIM_LEASE))


CLAIM_LEASE = claim_lease()
"""The lease as the process started with it (the job runner's wait for a busy delivery)."""


class MailSender(Protocol):
    def send(self, sender: str, recipients: list[str], message: bytes) -> str: ...


@dataclass(frozen=True)
class DeliveryOutcome:
    state: str
    detail: str


def backoff(attempts: int) -> timedelta:
    """base, 2 × base, 4 × base … capped at 10 minutes (base 5 s unless configured)."""
    base = _seconds(RETRY_BASE_VARIABLE, DEFAULT_RETRY_BASE)
    return min(MAX_BACKOFF, timedelta(seconds=base * 2 ** max(0, attempts - 1)))


def build_problem(error: Exception) -> str:
    """The failure recorded for a mail that cannot be built, its cause told apart."""
    return f"{NOT_RENDERED if isinstance(error, TemplateError) else NOT_BUILT}: {error}"


def render_failures(db: Database) -> dict[int, str]:
    """Deliveries given up because a template failed: id -> "kind to recipient: error".

    ``aliasdesk run --once`` compares these before and after its run, so that a cron job
    hears about mail its templates could not produce instead of seeing success.
    """
    with db.reader() as session:
        rows = session.execute(
            select(Delivery.id, Delivery.kind, Delivery.recipient, Delivery.last_error).where(
                Delivery.state == "failed", Delivery.last_error.startswith(NOT_RENDERED + ":")
            )
        ).all()
    return {row.id: f"{row.kind} to {row.recipient}: {row.last_error}" for row in rows}


def unrenderable(db: Database, delivery_id: int, error: str) -> DeliveryOutcome:
    now = datetime.now(UTC)
    with db.unit_of_work() as session:
        delivery = session.get(Delivery, delivery_id)
        if delivery is None or delivery.state in {"sent", "failed"}:
            return DeliveryOutcome(delivery.state if delivery else "missing", "not built")
        return _fail(session, delivery, error, now)


def not_claimed(db: Database, delivery_id: int) -> DeliveryOutcome:
    """Someone else has the delivery: sent or failed already, or being sent right now;
    or it is still pending, waiting for an earlier mail to the same recipient
    (:mod:`aliasdesk.services.send_order`), and its job comes back when that one is due.

    A delivery being sent by another worker is looked at again once that worker's lease
    runs out, in case it died. The jobs are rescheduled here with a conditional UPDATE,
    never read-then-written: the other worker may be marking them done at this very
    moment, and a plain write would undo that and send the mail again later.
    """
    now = datetime.now(UTC)
    with db.unit_of_work() as session:
        delivery = session.get(Delivery, delivery_id)
        state = delivery.state if delivery else "missing"
        if state == "sending":
            session.execute(
                update(Job)
                .where(Job.delivery_id == delivery_id, Job.state != "done")
                .values(
                    state="pending",
                    published_at=None,
                    holder=None,
                    available_at=now + claim_lease(),
                )
            )
        elif delivery is not None and state == "pending":
            if hold_back(session, delivery, now):
                return DeliveryOutcome(state, "waiting for an earlier mail to the same recipient")
            _due_again(session, delivery_id, now)
    return DeliveryOutcome(state, "claimed by another worker" if state == "sending" else state)


def _due_again(session: Session, delivery_id: int, now: datetime) -> None:
    """A pending delivery this worker did not take, with nothing left to wait for (the
    earlier mail it waited on settled between the claim and now): its job, still published
    and run by nobody, is due again at once instead of at the end of the publish lease.
    A job held back on purpose (the outside-mail limit) is pending already and left alone."""
    session.execute(
        update(Job)
        .where(Job.delivery_id == delivery_id, Job.state == "published")
        .values(state="pending", published_at=None, holder=None, available_at=now)
    )


def outbound_message(delivery: Delivery, now: datetime) -> dict[str, Any] | None:
    """The ticket message recording a sent mail (so replies to it thread and history
    shows it), as column values; None for mail about no ticket."""
    if delivery.ticket_id is None:
        return None
    facts = json.loads(delivery.context or "{}")
    text = facts.get("reply_text", "")
    # A mail passed on to the owner alone is the department's, whatever its kind.
    for_the_department = facts.get("audience") == "owner"
    return {
        "ticket_id": delivery.ticket_id,
        "direction": "out",
        "internal": kind_named(delivery.kind).internal or for_the_department,
        "from_address": delivery.sender,
        "to_addresses": json.dumps([delivery.recipient]),
        "subject": f"({delivery.kind})",
        "message_id": delivery.message_id,
        "text": text or f"{delivery.kind} sent to {delivery.recipient}",
        "delivery_id": delivery.id,
        "at": now,
    }


def _held(session: Session, delivery_id: int, token: str) -> Delivery | None:
    """The delivery, locked, while this worker's claim still stands; None when another
    worker took a stale claim over meanwhile.

    Without this check a worker whose slow send timed out after another worker had
    already sent the mail would put the delivery back to pending and send it a third time.
    """
    delivery = session.get(Delivery, delivery_id, with_for_update=True)
    assert delivery is not None
    ours = delivery.state == "sending" and delivery.claimed_by == token
    return delivery if ours else None


def _taken_over(session: Session, delivery_id: int, error: str) -> DeliveryOutcome:
    """The outcome for a worker whose claim was taken over: the row is someone else's."""
    delivery = session.get(Delivery, delivery_id)
    assert delivery is not None
    log.info("event=outcome_skipped delivery=%s state=%s", delivery_id, delivery.state)
    return DeliveryOutcome(delivery.state, f"taken over meanwhile: {error}")


def transient(db: Database, delivery_id: int, token: str, error: str) -> DeliveryOutcome:
    now = datetime.now(UTC)
    with db.unit_of_work() as session:
        delivery = _held(session, delivery_id, token)
        if delivery is None:
            return _taken_over(session, delivery_id, error)
        if delivery.attempts >= max_attempts():
            return _fail(
                session, delivery, f"gave up after {delivery.attempts} tries: {error}", now
            )
        delay = backoff(delivery.attempts)
        delivery.state, delivery.last_error = "pending", error[:2000]
        delivery.claimed_by, delivery.claimed_at, delivery.holder = None, None, None
        for job in session.query(Job).filter(Job.delivery_id == delivery_id, Job.state != "done"):
            job.state, job.published_at, job.holder = "pending", None, None
            job.available_at = now + delay
            job.last_error = error[:2000]
    log.warning(
        "event=retry delivery=%s in=%.3fs error=%r", delivery_id, delay.total_seconds(), error[:200]
    )
    return DeliveryOutcome("pending", error)


def permanent(db: Database, delivery_id: int, token: str, error: str) -> DeliveryOutcome:
    now = datetime.now(UTC)
    with db.unit_of_work() as session:
        delivery = _held(session, delivery_id, token)
        if delivery is None:
            return _taken_over(session, delivery_id, error)
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
