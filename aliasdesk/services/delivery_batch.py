"""Sending many deliveries with few statements: one UPDATE claims them all, their mails are
built, the SMTP conversations run over the worker's reused connection, and one UPDATE
records every 250.

The guarantees are those of :mod:`aliasdesk.services.delivery`, one delivery at a time:
the claim is the same conditional update (a delivery another worker holds is left to it,
and so is one whose earlier mail to the same recipient is not sent yet),
the bytes are stored with the claim, a mail that cannot be built fails alone, and a failure
to send is recorded on that delivery only.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, and_, func, insert, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from aliasdesk.db.models import Delivery, Job, Ticket, TicketMessage
from aliasdesk.db.session import Database
from aliasdesk.domain.organisation import RoutingConfig
from aliasdesk.mail.compose import ComposeError
from aliasdesk.notify.mailer import PermanentDeliveryError, TransientDeliveryError
from aliasdesk.notify.render import TemplateError, TemplateRenderer
from aliasdesk.services.bounces import BOUNCED
from aliasdesk.services.breaker import admit
from aliasdesk.services.delivery import (
    DeliveryOutcome,
    MailSender,
    build_problem,
    claim_lease,
    not_claimed,
    outbound_message,
    permanent,
    transient,
    unrenderable,
)
from aliasdesk.services.holders import this_holder
from aliasdesk.services.rendering import preload_for_rendering, render_delivery
from aliasdesk.services.send_order import after_earlier_mail

BUILD_ERRORS = (TemplateError, ComposeError, ValueError)


def claim(
    db: Database,
    delivery_id: int,
    config: RoutingConfig,
    renderer: TemplateRenderer,
    instance_id: str,
    now: datetime,
) -> Delivery | None:
    """One delivery taken for this worker (committed, detached): a batch of one. None when
    it is not free, or cannot be built (``deliver`` records why)."""
    with db.unit_of_work() as session:
        claimed, _ = claim_many(session, [delivery_id], config, renderer, instance_id, now)
    return claimed[0] if claimed else None


def claim_many(
    session: Session,
    delivery_ids: Sequence[int],
    config: RoutingConfig,
    renderer: TemplateRenderer,
    instance_id: str,
    now: datetime,
) -> tuple[list[Delivery], dict[int, str]]:
    """Claim what is free (pending, or a stale claim) and build the mails not built yet,
    in the caller's transaction (a batch's rounds split the two, see ``_claim_and_build``).

    ``claimed_by`` gets a token unique to this claim, so the outcome is only recorded by
    the worker that still holds it (``delivery.transient``); ``holder`` names this process,
    so that its claims are taken over as soon as it is known to be dead
    (:mod:`aliasdesk.services.takeover`) rather than after the lease.

    Returns the claimed rows (detached) and, separately, the ones that cannot be built.
    """
    token, claimed_ids = claim_ids(session, delivery_ids, config, now)
    claimed, unbuildable, built = build_claimed(session, claimed_ids, config, renderer, instance_id)
    kept = store_built(session, token, built)
    return [row for row in claimed if row.id in kept or row.id not in built], unbuildable


def claim_ids(
    session: Session, delivery_ids: Sequence[int], config: RoutingConfig, now: datetime
) -> tuple[str, list[int]]:
    """The conditional UPDATE that takes the free deliveries for this claim's token."""
    holder = this_holder().name
    token = f"{holder}:{secrets.token_hex(4)}"
    delivery_ids = admit(session, delivery_ids, config, now)  # outside mail over the limit waits
    statement = (
        update(Delivery)
        .where(
            Delivery.id.in_(list(delivery_ids)),
            or_(
                Delivery.state == "pending",
                and_(Delivery.state == "sending", Delivery.claimed_at < now - claim_lease()),
            ),
            after_earlier_mail(),  # one recipient's mails in the order they were queued
        )
        .values(
            state="sending",
            claimed_by=token,
            claimed_at=now,
            holder=holder,
            attempts=Delivery.attempts + 1,
        )
        .returning(Delivery.id)
        .execution_options(synchronize_session=False)
    )
    return token, list(session.scalars(statement))


Built = dict[int, tuple[bytes, str | None]]
"""Delivery id -> the bytes built for it and the context they were built from."""


def build_claimed(
    session: Session,
    claimed_ids: Sequence[int],
    config: RoutingConfig,
    renderer: TemplateRenderer,
    instance_id: str,
) -> tuple[list[Delivery], dict[int, str], Built]:
    """The claimed rows (detached), the ones that cannot be built, and the mails built
    now; reads only, so it needs no write lock (``store_built`` writes the bytes)."""
    if not claimed_ids:
        return [], {}, {}
    rows = session.scalars(
        select(Delivery)
        .where(Delivery.id.in_(list(claimed_ids)))
        .order_by(Delivery.id)
        .execution_options(populate_existing=True)
    ).all()
    ticket_ids = {row.ticket_id for row in rows if row.ticket_id is not None}
    # One query each; the list keeps the tickets alive in the (weak) identity map, so
    # rendering finds them there instead of loading one per mail.
    tickets = session.scalars(select(Ticket).where(Ticket.id.in_(ticket_ids))).all()
    preload_for_rendering(session, ticket_ids)
    claimed: list[Delivery] = []
    unbuildable: dict[int, str] = {}
    built: Built = {}
    with session.no_autoflush:
        for row in rows:
            if row.rendered is None:
                try:
                    data = render_delivery(session, row, config, renderer, instance_id)
                except BUILD_ERRORS as error:
                    unbuildable[row.id] = build_problem(error)
                    continue
                set_committed_value(row, "rendered", data)  # the row only carries them
                built[row.id] = (data, row.context)
            claimed.append(row)
    for row in rows:
        session.expunge(row)
    del tickets
    return claimed, unbuildable, built


def store_built(session: Session, token: str, built: Built) -> set[int]:
    """Store the built mails with their claim, before any is sent; returns the ids stored.

    Only where this claim still holds the row and its context is the one built from: a
    mail whose facts were erased meanwhile (``aliasdesk privacy erase``) is not stored, and
    its claim is let go so that the next claim builds it from what is left."""
    if not built:
        return set()
    current = session.execute(
        select(Delivery.id, Delivery.context).where(
            Delivery.id.in_(list(built)), Delivery.claimed_by == token
        )
    )
    kept = {row_id for row_id, context in current if context == built[row_id][1]}
    if kept:  # one executemany UPDATE by primary key instead of the ORM's flush per row
        rows = [{"id": row_id, "rendered": built[row_id][0]} for row_id in sorted(kept)]
        session.execute(update(Delivery), rows)
    let_go = [row_id for row_id in built if row_id not in kept]
    if let_go:
        session.execute(
            update(Delivery)
            .where(Delivery.id.in_(let_go), Delivery.claimed_by == token)
            .values(state="pending", claimed_by=None, claimed_at=None, holder=None)
        )
    return kept


def _bounced() -> ColumnElement[bool]:
    """Failed by a delivery report that overtook the 250: the failure stands."""
    error = func.coalesce(Delivery.last_error, "")
    return (Delivery.state == "failed") & error.startswith(BOUNCED)


def record_sent_many(session: Session, accepted: Sequence[Delivery], now: datetime) -> set[int]:
    """Mark deliveries sent, store them on their tickets, finish their jobs.

    A delivery already marked sent (a stale claim taken over meanwhile) is not stored on
    its ticket a second time; one a bounce already failed stays failed.

    The bytes built for a mail are kept only until it is sent: they are what a takeover
    sends again after a crash, with the same Message-ID, and nothing reads them once the
    server took the mail (the ticket keeps what was said, as a message). They were the
    largest thing in the database (27 MB of 62 for 1,000 requests, the owners' notices
    carrying the requests' files), and SQLite wrote them once more at this update, which
    changes the row's length. A sent mail an admin queues again after a bounce is built
    again from its facts, under its Message-ID.
    """
    ids = [delivery.id for delivery in accepted]
    newly = set(
        session.scalars(
            update(Delivery)
            .where(Delivery.id.in_(ids), Delivery.state != "sent", ~_bounced())
            .values(state="sent", sent_at=now, last_error=None, rendered=None)
            .returning(Delivery.id)
            .execution_options(synchronize_session=False)
        )
    )
    messages = [
        values
        for delivery in accepted
        if delivery.id in newly and (values := outbound_message(delivery, now)) is not None
    ]
    if messages:  # one executemany: the messages' ids are not needed
        session.execute(insert(TicketMessage), messages)
    session.execute(
        update(Job)
        .where(Job.delivery_id.in_(ids), Job.state != "done")
        .values(state="done", done_at=now)
    )
    return newly


MAX_ROUNDS = 3
"""Rounds of one ``deliver_many``: a mail held back for an earlier one to the same recipient
in the same batch goes in the next round, right after that one is recorded sent, instead
of waiting for the relay's next look (a reply and its feedback request, one batch)."""


def deliver(
    db: Database,
    delivery_id: int,
    sender: MailSender,
    config: RoutingConfig,
    renderer: TemplateRenderer,
    instance_id: str,
) -> DeliveryOutcome:
    """One delivery claimed, sent and recorded: a batch of one."""
    return deliver_many(db, [delivery_id], sender, config, renderer, instance_id)[delivery_id]


def deliver_many(
    db: Database,
    delivery_ids: Sequence[int],
    sender: MailSender,
    config: RoutingConfig,
    renderer: TemplateRenderer,
    instance_id: str,
) -> dict[int, DeliveryOutcome]:
    outcomes: dict[int, DeliveryOutcome] = {}
    todo = list(delivery_ids)
    for round_number in range(MAX_ROUNDS):
        untaken, settled = _deliver_round(db, todo, sender, config, renderer, instance_id, outcomes)
        last = round_number + 1 == MAX_ROUNDS
        todo = [] if last else _next_in_line(db, untaken, settled)
        for delivery_id in untaken:
            if delivery_id not in todo:
                outcomes[delivery_id] = not_claimed(db, delivery_id)
        if not todo:
            break
    return outcomes


def _deliver_round(
    db: Database,
    delivery_ids: Sequence[int],
    sender: MailSender,
    config: RoutingConfig,
    renderer: TemplateRenderer,
    instance_id: str,
    outcomes: dict[int, DeliveryOutcome],
) -> tuple[list[int], list[Delivery]]:
    """Claim, send and record what can go now; returns the ids not claimed and the
    deliveries settled (sent, or failed for good) in this round."""
    claimed, unbuildable = _claim_and_build(db, delivery_ids, config, renderer, instance_id)
    for delivery_id, problem in unbuildable.items():
        outcomes[delivery_id] = unrenderable(db, delivery_id, problem)
    taken = {d.id for d in claimed} | set(unbuildable)
    accepted: list[Delivery] = []
    settled: list[Delivery] = []
    for delivery, result in zip(claimed, _send_all(sender, claimed), strict=True):
        assert delivery.claimed_by is not None
        if isinstance(result, PermanentDeliveryError):
            outcomes[delivery.id] = permanent(db, delivery.id, delivery.claimed_by, str(result))
            settled.append(delivery)
        elif isinstance(result, Exception):  # anything not known to be final is retried
            outcomes[delivery.id] = transient(db, delivery.id, delivery.claimed_by, str(result))
        else:
            accepted.append(delivery)
            outcomes[delivery.id] = DeliveryOutcome("sent", result)
    if accepted:
        with db.unit_of_work() as session:
            record_sent_many(session, accepted, datetime.now(UTC))
    untaken = [delivery_id for delivery_id in delivery_ids if delivery_id not in taken]
    return untaken, settled + accepted


def _claim_and_build(
    db: Database,
    delivery_ids: Sequence[int],
    config: RoutingConfig,
    renderer: TemplateRenderer,
    instance_id: str,
) -> tuple[list[Delivery], dict[int, str]]:
    """``claim_many`` in three short transactions instead of one long one: the claim, the
    building of the mails (a read: on SQLite the intake and other workers keep writing
    meanwhile, where they used to wait out the rendering), then storing the bytes. The
    bytes are still stored before any mail is sent; a process killed in between leaves
    claims with no bytes, built again by whoever takes them over."""
    with db.unit_of_work() as session:
        token, claimed_ids = claim_ids(session, delivery_ids, config, datetime.now(UTC))
    with db.reader() as session:
        claimed, unbuildable, built = build_claimed(
            session, claimed_ids, config, renderer, instance_id
        )
    if not built:
        return claimed, unbuildable
    with db.unit_of_work() as session:
        kept = store_built(session, token, built)
    return [row for row in claimed if row.id in kept or row.id not in built], unbuildable


def _next_in_line(db: Database, untaken: Sequence[int], settled: Sequence[Delivery]) -> list[int]:
    """The untaken deliveries that were waiting for one settled just now (same ticket, same
    recipient): worth another claim at once. Any other untaken one is someone else's."""
    pairs = {(d.ticket_id, d.recipient) for d in settled if d.ticket_id is not None}
    if not untaken or not pairs:
        return []
    with db.reader() as session:
        rows = session.execute(
            select(Delivery.id, Delivery.ticket_id, Delivery.recipient).where(
                Delivery.id.in_(list(untaken)), Delivery.state == "pending"
            )
        ).all()
    return [row.id for row in rows if (row.ticket_id, row.recipient) in pairs]


SendResult = str | Exception


def _send_all(sender: MailSender, claimed: Sequence[Delivery]) -> list[SendResult]:
    """Every claimed mail handed to the SMTP server: all at once over several connections
    when the sender can (``send_many``), else one after the other. A failure belongs to
    its own mail only."""
    items = [(d.sender, [d.recipient], d.rendered or b"") for d in claimed]
    send_many = getattr(sender, "send_many", None)
    if send_many is not None and len(items) > 1:
        return list(send_many(items))
    results: list[SendResult] = []
    for from_address, recipients, data in items:
        try:
            results.append(sender.send(from_address, recipients, data))
        except (TransientDeliveryError, PermanentDeliveryError) as error:
            results.append(error)
    return results
