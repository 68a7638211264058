"""Causal send order: one recipient's mails about one ticket leave one after another.

A member's answer and the status or feedback mail it causes are queued together, as two
deliveries to the requester. Sent in parallel, the MTA may well deliver "How did we do?"
above the answer it follows. So a delivery is only claimed when no earlier delivery (a
lower id) to the same recipient about the same ticket is still ``pending`` or
``sending``; the later one waits until the earlier one is sent or has failed for good.

The rule is part of the claim's conditional UPDATE, so it holds across workers and
processes on every database: whoever claims, the database decides against the rows as
they are. Different recipients and different tickets never wait for each other, so a
batch still goes out over several connections at once.

A delivery held back has its job put back to ``pending`` and looked at again when the
earlier mail's own job is due (its retry), or sooner, never later than ``MAX_HOLD``: the
earlier one may be sent by another worker at any moment, and a short wait costs one
small query while a long one would delay the answer's follow-up.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.orm import Session, aliased

from aliasdesk.db.models import Delivery, Job

log = logging.getLogger("aliasdesk.delivery")
UNSENT = ("pending", "sending")
MIN_HOLD = timedelta(seconds=0.25)
MAX_HOLD = timedelta(seconds=5)


def after_earlier_mail() -> ColumnElement[bool]:
    """True for a delivery whose earlier mail to the same recipient, about the same
    ticket, is settled (sent or failed); the claim's extra condition."""
    earlier = aliased(Delivery)
    return ~(
        select(earlier.id)
        .where(
            earlier.ticket_id == Delivery.ticket_id,
            earlier.recipient == Delivery.recipient,
            earlier.id < Delivery.id,
            earlier.state.in_(UNSENT),
        )
        .exists()
    )


def waits_for(session: Session, delivery: Delivery) -> list[int]:
    """The earlier deliveries ``delivery`` waits for (empty when it may go)."""
    if delivery.ticket_id is None:
        return []
    return list(
        session.scalars(
            select(Delivery.id).where(
                Delivery.ticket_id == delivery.ticket_id,
                Delivery.recipient == delivery.recipient,
                Delivery.id < delivery.id,
                Delivery.state.in_(UNSENT),
            )
        )
    )


def hold_back(session: Session, delivery: Delivery, now: datetime) -> bool:
    """Put the job of a delivery that must wait back in the queue; False if it need not."""
    earlier = waits_for(session, delivery)
    if not earlier:
        return False
    next_try = session.scalar(
        select(func.max(Job.available_at)).where(Job.delivery_id.in_(earlier), Job.state != "done")
    )
    wait_until = min(max(next_try or now, now + MIN_HOLD), now + MAX_HOLD)
    session.execute(
        update(Job)
        .where(Job.delivery_id == delivery.id, Job.state != "done")
        .values(state="pending", published_at=None, available_at=wait_until)
    )
    log.debug("event=held_back delivery=%s after=%s", delivery.id, earlier)
    return True
