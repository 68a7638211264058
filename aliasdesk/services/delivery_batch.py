"""Sending many deliveries with few transactions: one to claim (and render) them all, the
SMTP conversations over the worker's reused connection, one to record every 250.

The guarantees are those of :mod:`aliasdesk.services.delivery`, one delivery at a time:
each claim is its own savepoint, a mail that cannot be built fails alone, and a failure
to send is recorded on that delivery only.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from aliasdesk.db.models import Delivery
from aliasdesk.db.session import Database
from aliasdesk.domain.organisation import RoutingConfig
from aliasdesk.mail.compose import ComposeError
from aliasdesk.notify.mailer import PermanentDeliveryError, TransientDeliveryError
from aliasdesk.notify.render import TemplateError, TemplateRenderer
from aliasdesk.services.delivery import (
    DeliveryOutcome,
    MailSender,
    claim_in,
    not_claimed,
    permanent,
    record_sent,
    transient,
    unrenderable,
)

BUILD_ERRORS = (TemplateError, ComposeError, ValueError)


def deliver_many(
    db: Database,
    delivery_ids: Sequence[int],
    sender: MailSender,
    config: RoutingConfig,
    renderer: TemplateRenderer,
    instance_id: str,
) -> dict[int, DeliveryOutcome]:
    now = datetime.now(UTC)
    claimed: list[Delivery] = []
    unbuildable: dict[int, str] = {}
    elsewhere: list[int] = []
    with db.unit_of_work() as session:
        for delivery_id in delivery_ids:
            try:
                with session.begin_nested():
                    delivery = claim_in(session, delivery_id, config, renderer, instance_id, now)
            except BUILD_ERRORS as error:
                unbuildable[delivery_id] = f"cannot build the mail: {error}"
                continue
            if delivery is None:
                elsewhere.append(delivery_id)
            else:
                claimed.append(delivery)
    outcomes: dict[int, DeliveryOutcome] = {}
    for delivery_id, problem in unbuildable.items():
        outcomes[delivery_id] = unrenderable(db, delivery_id, problem)
    for delivery_id in elsewhere:
        outcomes[delivery_id] = not_claimed(db, delivery_id)
    accepted: list[tuple[int, str]] = []
    for delivery in claimed:
        assert delivery.rendered is not None and delivery.claimed_by is not None
        try:
            reply = sender.send(delivery.sender, [delivery.recipient], delivery.rendered)
        except TransientDeliveryError as error:
            outcomes[delivery.id] = transient(db, delivery.id, delivery.claimed_by, str(error))
        except PermanentDeliveryError as error:
            outcomes[delivery.id] = permanent(db, delivery.id, delivery.claimed_by, str(error))
        else:
            accepted.append((delivery.id, reply))
    if accepted:
        sent_at = datetime.now(UTC)
        with db.unit_of_work() as session:
            for delivery_id, reply in accepted:
                outcomes[delivery_id] = record_sent(session, delivery_id, reply, sent_at)
    return outcomes
