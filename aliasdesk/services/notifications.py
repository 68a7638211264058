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

from aliasdesk.db.bulk import Draft, RowBuffer, table_of
from aliasdesk.db.models import Delivery, Job, Ticket
from aliasdesk.db.unit_of_work import BUFFER_NOT_READ, work_of
from aliasdesk.notify.catalogue import kind_named

AUTO_REPLIED = "auto-replied"
AUTO_ANSWERS_PER_HOUR = 10
MESSAGE_ID_DOMAIN = "aliasdesk.invalid"


def auto_submitted_for(kind: str) -> str:
    """RFC 3834 §5: the value the kind declares (an acknowledgement answers a mail)."""
    return kind_named(kind).auto_submitted


def _hourly_counts(session: Session) -> dict[tuple[str, bool], int]:
    """Mail queued to a recipient within the hour: (recipient, every kind?) -> count."""
    return work_of(session).known.auto_answer_counts


def _count_query(recipients: Sequence[str], now: datetime, every_kind: bool) -> Any:
    query = (
        select(Delivery.recipient, func.count())
        .where(Delivery.recipient.in_(recipients), Delivery.created_at >= now - timedelta(hours=1))
        .group_by(Delivery.recipient)
    )
    return query if every_kind else query.where(Delivery.auto_submitted == AUTO_REPLIED)


def auto_answers_last_hour(
    session: Session, recipient: str, now: datetime, *, every_kind: bool = False
) -> int:
    """Automatic mail queued to ``recipient`` within the hour, this transaction's included:
    acknowledgements only, or (``every_kind``) every automatic mail.

    Counted once per recipient and transaction, then kept up to date in memory as this
    transaction queues more (a batch of jobs would otherwise count again for every mail).
    """
    counts = _hourly_counts(session)
    if (recipient, every_kind) not in counts:
        found = dict(session.execute(_count_query([recipient], now, every_kind)).all())
        counts[(recipient, every_kind)] = int(found.get(recipient, 0))
    return counts[(recipient, every_kind)]


def inbound_cause(inbound_id: int | None, message_id: str | None) -> str:
    """The cause of the mail an inbound mail makes aliasdesk send (a relay, a rating's
    thanks): one per inbound mail, so that taking it in again queues nothing twice."""
    return f"in:{inbound_id}" if inbound_id is not None else f"in:{message_id}"


def preload_notifications(
    session: Session, causes: Sequence[str], recipients: Sequence[str], now: datetime
) -> None:
    """Before a batch queues notifications for these causes and recipients: what exists
    and what was sent within the hour, in two queries instead of two per notification."""
    causes = list(dict.fromkeys(causes))
    known, loaded = work_of(session).known.queued_keys, work_of(session).known.queued_causes
    if causes:
        rows = session.execute(
            select(Delivery.cause, Delivery.kind, Delivery.recipient).where(
                Delivery.cause.in_(causes)
            )
        )
        known.update((cause, kind, recipient) for cause, kind, recipient in rows)
        loaded.update(causes)
    counts = _hourly_counts(session)
    for every_kind in (False, True):
        wanted = [r for r in dict.fromkeys(recipients) if (r, every_kind) not in counts]
        if wanted:
            found = dict(session.execute(_count_query(wanted, now, every_kind)).all())
            counts.update({(r, every_kind): int(found.get(r, 0)) for r in wanted})


def _queued_already(session: Session, cause: str, kind: str, recipient: str) -> bool:
    known = work_of(session).known
    if (cause, kind, recipient) in known.queued_keys:
        return True
    if cause in known.queued_causes:
        return False  # preloaded: every delivery of this cause is in ``known``
    # Every delivery this transaction queued is in ``known`` already (queue_notification
    # adds it before drafting it, a rollback forgets both): the database is asked only for
    # what came before, so neither the ORM's pending rows nor the buffer's are written first.
    with session.no_autoflush:
        existing = session.scalar(
            select(Delivery.id)
            .where(Delivery.cause == cause, Delivery.kind == kind, Delivery.recipient == recipient)
            .execution_options(**{BUFFER_NOT_READ: True})
        )
    return existing is not None


def _within_caps(
    session: Session,
    recipient: str,
    now: datetime,
    *,
    acknowledgement: bool,
    outside: bool,
    capped: bool,
) -> bool:
    """Count this mail toward the recipient's hourly caps; False when it must not go.

    Acknowledgements are capped for everyone (RFC 3834 §2: never answer a robot forever);
    an outside address is capped for every kind of automatic mail.
    """
    checks = [(False, acknowledgement), (True, outside)]
    with session.no_autoflush:
        counts = {
            every: auto_answers_last_hour(session, recipient, now, every_kind=every)
            for every, applies in checks
            if applies
        }
    if capped and any(n >= AUTO_ANSWERS_PER_HOUR for n in counts.values()):
        return False
    for every, n in counts.items():
        _hourly_counts(session)[(recipient, every)] = n + 1
    return True


def sent_recently(
    session: Session, ticket: Ticket, kind: str, recipient: str, since: datetime
) -> bool:
    """Whether a ``kind`` mail to ``recipient`` about ``ticket`` was queued after ``since``
    (this transaction's unflushed ones included): for notices sent at most once a while."""
    if (ticket.id, kind, recipient) in work_of(session).known.notices_queued:
        return True
    with session.no_autoflush:
        found = session.scalar(
            select(Delivery.id)
            .where(
                Delivery.ticket_id == ticket.id,
                Delivery.kind == kind,
                Delivery.recipient == recipient,
                Delivery.created_at >= since,
            )
            .limit(1)
        )
    return found is not None


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
    outside: bool = False,
    private: bool = False,
) -> Draft | None:
    """Queue one mail; None when it exists already for this cause or is capped (RFC 3834),
    or when the unit of work sends no mail (``UnitOfWork.send_mail``, old mail imported
    with --no-mail).

    ``outside``: the recipient is not one of the departments' people. Every automatic mail
    to such an address counts toward its hourly cap, whatever its kind, so nobody can
    make an alias mail a stranger over and over; past the cap only a member's own
    answer (``reply_relay``) still goes out, since a person wrote it. ``private``: the
    mail must not reveal the ticket, so its Message-ID does not name it either.

    The delivery and its job go into the unit of work's row buffer (the job names the
    delivery's draft, whose id is reserved when the buffer is written), so a batch writes
    its mail with one multi-row INSERT per table. Through the ORM, the flush of a batch's
    deliveries and jobs was about a twentieth of a job process's CPU under ``run
    --processes 2``.
    """
    work = work_of(session)
    auto = auto_submitted_for(kind)
    if not _may_queue(session, kind, recipient, cause, now, auto, outside):
        return None
    work.known.queued_keys.add((cause, kind, recipient))
    if ticket is not None:
        work.known.notices_queued.add((ticket.id, kind, recipient))
    ref = "aliasdesk" if private else ticket.ref if ticket is not None else "admin"
    ticket_id = ticket.id if ticket is not None else None
    delivery = work.rows.draft(
        table_of(Delivery),
        {
            "ticket_id": ticket_id,
            "kind": kind,
            "cause": cause,
            "recipient": recipient,
            "sender": sender,
            "message_id": _new_message_id(ref, kind, domain),
            "auto_submitted": auto,
            "context": json.dumps(context or {}, default=str),
            "created_at": now,
        },
    )
    _deliver_job(work.rows, delivery, ticket_id, now)
    return delivery


def _deliver_job(rows: RowBuffer, delivery: Draft, ticket_id: int | None, now: datetime) -> None:
    """The ``deliver`` job that sends ``delivery``, in the same buffer (written after it)."""
    values = {"kind": "deliver", "ticket_id": ticket_id, "delivery_id": delivery}
    rows.insert(table_of(Job), {**values, "available_at": now, "created_at": now})


def _may_queue(
    session: Session,
    kind: str,
    recipient: str,
    cause: str,
    now: datetime,
    auto: str,
    outside: bool,
) -> bool:
    """Whether this mail is to be queued: the unit of work sends mail, it is not queued
    already for this cause, and the recipient's caps let it through."""
    if not work_of(session).send_mail or _queued_already(session, cause, kind, recipient):
        return False
    return _within_caps(
        session,
        recipient,
        now,
        acknowledgement=auto == AUTO_REPLIED,
        outside=outside,
        capped=not kind_named(kind).written_by_a_person,
    )


def _new_message_id(ref: str, kind: str, domain: str) -> str:
    """128 random bits: a member answering this Message-ID proves they read the mailbox it
    was sent to (aliasdesk.inbound.verification), so it must not be guessable."""
    return f"<{ref}.{kind}.{secrets.token_hex(16)}@{domain}>"
