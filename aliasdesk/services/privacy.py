"""Personal data: anonymising old tickets, and what aliasdesk holds about one person.

HR, Legal or Health mail is personal data, kept only as long as a department says
(``retention:`` in the routing file). Anonymising a ticket removes the people and the
words: requester, names and addresses outside the departments, subjects, texts, files,
the raw mail and the mail sent. What reports count stays: the department, number,
status, priority, owner, timestamps, rating, and the kind and time of every event and
message, so the department's figures are the same before and after.

Every anonymisation, export and erasure is recorded as a ticket event that names nobody.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from aliasdesk.db.models import (
    Delivery,
    GatewayState,
    InboundMail,
    InboundRaw,
    StoredAttachment,
    Ticket,
    TicketEvent,
    TicketMessage,
    Watcher,
)
from aliasdesk.db.session import Database
from aliasdesk.domain.organisation import RoutingConfig
from aliasdesk.domain.states import Status
from aliasdesk.services.next_run import NextRun
from aliasdesk.services.reports import iso, show_ticket
from aliasdesk.services.tickets import add_event

NOBODY = "anonymised@invalid"
"""What an address outside the departments becomes (``.invalid``: RFC 2606, never mail)."""
REMOVED = "(removed)"
_ADDRESS = re.compile(r"[^\s<>()\[\],;:\"']+@[^\s<>()\[\],;:\"']+")


def _keep(config: RoutingConfig, address: str | None) -> str:
    """A member's, alias's or admin's address stays (reports count owners); others go."""
    return address if address and config.is_staff(address) else NOBODY


def _scrub(config: RoutingConfig, text: str) -> str:
    """``text`` with every address outside the departments replaced."""
    return _ADDRESS.sub(lambda m: _keep(config, m.group(0).lower()), text)


def anonymise_ticket(
    session: Session, config: RoutingConfig, ticket: Ticket, *, actor: str, why: str, now: datetime
) -> None:
    """Remove the ticket's personal data in place; its figures stay (see module doc)."""
    session.flush()
    ids = select(TicketMessage.id).where(TicketMessage.ticket_id == ticket.id)
    inbound: set[int] = set()
    for message in session.scalars(
        select(TicketMessage).where(TicketMessage.ticket_id == ticket.id)
    ):
        inbound.update([message.inbound_id] if message.inbound_id is not None else [])
        message.text, message.subject, message.to_addresses = "", "", "[]"
        message.from_address = _keep(config, message.from_address)
    session.execute(
        update(StoredAttachment)
        .where(StoredAttachment.message_id.in_(ids))
        .values(data=None, filename=REMOVED)
        .execution_options(synchronize_session=False)
    )
    for delivery in session.scalars(select(Delivery).where(Delivery.ticket_id == ticket.id)):
        _forget_delivery(config, delivery)
    for event in session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id)):
        event.actor, event.detail = _keep(config, event.actor), _scrub(config, event.detail)
    session.execute(delete(Watcher).where(Watcher.ticket_id == ticket.id))
    ticket.requester, ticket.requester_name = NOBODY, ""
    ticket.subject, ticket.rating_comment, ticket.origin_message_id = REMOVED, None, None
    ticket.anonymised_at = now
    session.flush()
    for inbound_id in inbound | _commands_only(session, ticket.ref):
        _drop_raw_if_unused(session, inbound_id)
    add_event(session, ticket, "anonymised", actor, why, now)


def _commands_only(session: Session, ref: str) -> set[int]:
    """The mail taken in for the ticket that left no message on it (a member's reply with
    only ``#resolve`` or ``#close``): its subject is the ticket's, and a mail client quotes
    the whole conversation below the command, so its raw bytes must go too."""
    tagged = f'%"{ref}"%'  # ticket_refs is a JSON list: the quotes keep HR-1 from HR-12
    return set(session.scalars(select(InboundMail.id).where(InboundMail.ticket_refs.like(tagged))))


def _forget_delivery(config: RoutingConfig, delivery: Delivery) -> None:
    """A sent mail's bytes and facts go; an outside recipient becomes one of a kind (the
    delivery's own id keeps it unique per cause and kind, as the table requires)."""
    delivery.rendered, delivery.context, delivery.last_error = None, "{}", None
    if not config.is_staff(delivery.recipient):
        delivery.recipient = f"anonymised-{delivery.id}@invalid"


def _drop_raw_if_unused(session: Session, inbound_id: int) -> None:
    """The raw mail goes once no ticket that still keeps its data uses it (one mail to
    two departments is two tickets, which may be anonymised at different times)."""
    still_used = session.scalar(
        select(TicketMessage.id)
        .join(Ticket, Ticket.id == TicketMessage.ticket_id)
        .where(TicketMessage.inbound_id == inbound_id, Ticket.anonymised_at.is_(None))
        .limit(1)
    )
    if still_used is None:
        _drop_raw(session, inbound_id)


def _drop_raw(session: Session, inbound_id: int) -> None:
    row = session.get(InboundMail, inbound_id)
    if row is not None:
        row.subject, row.from_address, row.trace = None, None, None
        session.execute(update(InboundRaw).where(InboundRaw.id == inbound_id).values(raw=b""))


def apply_retention(session: Session, config: RoutingConfig, now: datetime) -> list[str]:
    """Anonymise every closed ticket whose department's retention has passed since its
    last activity; returns their references."""
    done: list[str] = []
    for department in config.departments.values():
        if department.retention is None:
            continue
        due = session.scalars(
            select(Ticket).where(
                Ticket.department == department.key,
                Ticket.status == Status.CLOSED.value,
                Ticket.anonymised_at.is_(None),
                Ticket.updated_at <= now - department.retention,
            )
        )
        for ticket in list(due):
            why = f"closed longer than the retention of {department.key}"
            anonymise_ticket(session, config, ticket, actor="aliasdesk", why=why, now=now)
            done.append(ticket.ref)
    return done


RETENTION_STATE = "retention"
"""The gateway-state row holding when retention last ran (it runs once a day)."""
RETENTION_EVERY = timedelta(days=1)
RETRY_AFTER = timedelta(minutes=1)


def retention_if_due(db: Database, config: RoutingConfig, now: datetime) -> list[str]:
    """The daily retention run: whoever takes the state row first runs it, in one
    transaction with the row, so it runs once a day however many processes call it;
    returns the references anonymised."""
    return _retention_run(db, config, now)[0]


def _retention_run(
    db: Database, config: RoutingConfig, now: datetime
) -> tuple[list[str], datetime | None]:
    """:func:`retention_if_due`, and when the next run is due (None: no department keeps
    its tickets for a limited time)."""
    if not any(d.retention is not None for d in config.departments.values()):
        return [], None
    with db.unit_of_work() as session:
        row = session.get(GatewayState, RETENTION_STATE, with_for_update=True)
        if row is not None and row.updated_at > now - RETENTION_EVERY:
            return [], row.updated_at + RETENTION_EVERY
        done = apply_retention(session, config, now)
        if row is None:
            row = GatewayState(name=RETENTION_STATE)
            session.add(row)
        row.value, row.problem, row.updated_at = f"{len(done)} anonymised", None, now
        return done, now + RETENTION_EVERY


@dataclass
class RetentionSchedule:
    """The daily retention run as one process schedules it: the relay looks at every
    loop, and the run's own state row (read once at the first look, and whenever a run
    is due) says when it next falls due; between the two a look costs no query. A run
    that fails is tried again a minute later."""

    next_run: NextRun = field(default_factory=NextRun)

    def run(self, db: Database, config: RoutingConfig, now: datetime) -> list[str]:
        """Anonymise what is past retention if the daily run is due; the references."""
        if not self.next_run.due(config, now):
            return []
        try:
            done, next_at = _retention_run(db, config, now)
        except Exception:
            self.next_run.after(config, now + RETRY_AFTER)
            raise
        self.next_run.after(config, next_at)
        return done


@dataclass
class PersonalData:
    """Everything held about one address, as ``privacy export`` writes it."""

    address: str
    requested: list[dict[str, Any]] = field(default_factory=list)
    written_elsewhere: list[dict[str, Any]] = field(default_factory=list)
    copied_on: list[str] = field(default_factory=list)
    mail_received: list[dict[str, Any]] = field(default_factory=list)
    files: list[tuple[str, bytes]] = field(default_factory=list)
    touched: list[Ticket] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (
            self.requested or self.written_elsewhere or self.copied_on or self.mail_received
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "tickets_requested": self.requested,
            "messages_in_other_tickets": self.written_elsewhere,
            "copied_on": self.copied_on,
            "mail_received": self.mail_received,
            "files": [name for name, _ in self.files],
        }


def collect(session: Session, address: str) -> PersonalData:
    """What is held about ``address``: their tickets whole, their own messages in others'
    tickets (nothing else of those), where they are copied, the mail taken in from them,
    and the files they sent (named ``file-N``: a sender's file name decides nothing)."""
    found = PersonalData(address)
    own = list(
        session.scalars(select(Ticket).where(Ticket.requester == address).order_by(Ticket.id))
    )
    found.requested = [show_ticket(session, ticket) for ticket in own]
    found.touched = list(own)
    others = session.scalars(
        select(TicketMessage)
        .join(Ticket, Ticket.id == TicketMessage.ticket_id)
        .where(TicketMessage.from_address == address, Ticket.requester != address)
        .order_by(TicketMessage.id)
    )
    for message in others:
        entry = {"ticket": message.ticket.ref, "at": iso(message.at), "text": message.text}
        found.written_elsewhere.append(entry)
        found.touched.append(message.ticket)
    watched = session.scalars(
        select(Ticket)
        .join(Watcher, Watcher.ticket_id == Ticket.id)
        .where(Watcher.address == address)
    )
    for ticket in watched:
        found.copied_on.append(ticket.ref)
        found.touched.append(ticket)
    for row in session.scalars(select(InboundMail).where(InboundMail.from_address == address)):
        found.mail_received.append(
            {"received_at": iso(row.received_at), "subject": row.subject, "outcome": row.outcome}
        )
    files = session.scalars(
        select(StoredAttachment)
        .join(TicketMessage, TicketMessage.id == StoredAttachment.message_id)
        .where(TicketMessage.from_address == address, StoredAttachment.data.is_not(None))
        .order_by(StoredAttachment.id)
    )
    found.files = [(f"file-{n}", row.data or b"") for n, row in enumerate(files, 1)]
    found.touched = list({t.id: t for t in found.touched}.values())
    return found


def record_export(session: Session, data: PersonalData, now: datetime) -> None:
    for ticket in data.touched:
        add_event(session, ticket, "privacy", "admin", "personal data exported on request", now)


def _unname(session: Session, ticket: Ticket, address: str) -> None:
    """Someone else's ticket keeps its words but loses ``address`` wherever it is written
    (recipients of its messages, its history) and what they wrote wherever it was passed on."""
    named = re.compile(re.escape(address), re.IGNORECASE)
    for message in session.scalars(
        select(TicketMessage).where(TicketMessage.ticket_id == ticket.id)
    ):
        recipients = json.loads(message.to_addresses or "[]")
        message.to_addresses = json.dumps([a for a in recipients if a.lower() != address])
        message.text = named.sub(NOBODY, message.text)
    for event in session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id)):
        event.detail = named.sub(NOBODY, event.detail)
    for delivery in session.scalars(select(Delivery).where(Delivery.ticket_id == ticket.id)):
        if str(json.loads(delivery.context or "{}").get("author", "")).lower() != address:
            continue
        # Their words passed on to others: the mail's bytes, facts and the copy kept of it.
        delivery.rendered, delivery.context = None, "{}"
        session.execute(
            update(TicketMessage).where(TicketMessage.delivery_id == delivery.id).values(text="")
        )


def erase_person(session: Session, config: RoutingConfig, address: str, now: datetime) -> list[str]:
    """Anonymise every ticket ``address`` requested (closing open ones) and remove them from
    everything else: their messages' words and files, their copies, the raw mail they sent
    and the mail sent to them. Returns the references of the tickets touched."""
    data = collect(session, address)
    why = "personal data erased on request"
    for ticket in data.touched:
        if ticket.requester == address:
            if ticket.status != Status.CLOSED.value:
                add_event(
                    session, ticket, "status", "admin", f"{ticket.status} -> closed ({why})", now
                )
                ticket.status = Status.CLOSED.value
            anonymise_ticket(session, config, ticket, actor="admin", why=why, now=now)
        else:
            _unname(session, ticket, address)
            add_event(session, ticket, "privacy", "admin", why, now)
    mine = select(TicketMessage.id).where(TicketMessage.from_address == address)
    session.execute(
        update(StoredAttachment)
        .where(StoredAttachment.message_id.in_(mine))
        .values(data=None, filename=REMOVED)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(TicketMessage)
        .where(TicketMessage.from_address == address)
        .values(text="", subject="", from_address=NOBODY)
        .execution_options(synchronize_session=False)
    )
    session.execute(delete(Watcher).where(Watcher.address == address))
    for delivery in session.scalars(select(Delivery).where(Delivery.recipient == address)):
        _forget_delivery(config, delivery)
    session.execute(update(TicketEvent).where(TicketEvent.actor == address).values(actor=NOBODY))
    for inbound_id in session.scalars(
        select(InboundMail.id).where(InboundMail.from_address == address)
    ):
        _drop_raw(session, inbound_id)
    return [ticket.ref for ticket in data.touched]
