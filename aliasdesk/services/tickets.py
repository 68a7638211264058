"""Opening tickets and recording what happens to them (messages, events, links)."""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from aliasdesk.db.bulk import Draft, table_of
from aliasdesk.db.models import (
    Job,
    StoredAttachment,
    Ticket,
    TicketEvent,
    TicketLink,
    TicketMessage,
    Watcher,
)
from aliasdesk.db.queries import next_ticket_number
from aliasdesk.db.unit_of_work import work_of
from aliasdesk.domain.filing import Requester, ticket_subject
from aliasdesk.domain.organisation import RoutingConfig
from aliasdesk.mail.model import Attachment, ParsedMail

_TICKETS = table_of(Ticket)
_MESSAGES = table_of(TicketMessage)
_ATTACHMENTS = table_of(StoredAttachment)
_EVENTS = table_of(TicketEvent)
_WATCHERS = table_of(Watcher)
MAX_WATCHERS = 20
"""Copied people kept as a new ticket's watchers; more would mean mailing a crowd."""
_LINKS = table_of(TicketLink)
_JOBS = table_of(Job)


def add_event(
    session: Session,
    ticket: Ticket | NewTicket,
    kind: str,
    actor: str,
    detail: str,
    now: datetime,
) -> None:
    """Add a line to the ticket's history: a ticket already stored, or one opened in this
    transaction. The row goes through the unit of work's buffer either way (one INSERT per
    batch, not one per event); nothing reads it back before the buffer is written."""
    if isinstance(ticket, NewTicket):
        ticket_id: int | Draft = ticket.row
    else:
        ticket_id = ticket.id
        ticket.updated_at = now
    work_of(session).rows.insert(
        _EVENTS, {"ticket_id": ticket_id, "kind": kind, "actor": actor, "detail": detail, "at": now}
    )


@dataclass(frozen=True)
class AddedMessage:
    """A message written through the row buffer; its id is known once the buffer is."""

    row: Draft
    session: Session

    @property
    def id(self) -> int:
        if self.row.id is None:
            work_of(self.session).rows.flush()
        assert self.row.id is not None
        return self.row.id

    @property
    def text(self) -> str:
        return str(self.row.values["text"])


def add_message(
    session: Session,
    ticket: Ticket | NewTicket,
    mail: ParsedMail,
    *,
    text: str,
    internal: bool,
    inbound_id: int | None,
    now: datetime,
    from_address: str | None = None,
    with_attachments: bool = True,
) -> AddedMessage:
    """Store the new text of an inbound mail on a ticket, with its attachments: a ticket
    already stored or one opened in this transaction, through the unit of work's buffer
    either way (like :func:`add_event`).

    ``from_address`` names the author when it is not the mail's sender (the original
    writer of a forwarded request).
    """
    work = work_of(session)
    if isinstance(ticket, NewTicket):
        ticket_id: int | Draft = ticket.row
    else:
        ticket_id = ticket.id
        ticket.updated_at = now
        if not internal and ticket.id in work.known.requester_seen:
            work.known.requester_seen[ticket.id].append(text)
    rows = work.rows
    message = rows.draft(
        _MESSAGES,
        {
            "ticket_id": ticket_id,
            "delivery_id": None,
            **_inbound_message(mail, text, internal, inbound_id, now, from_address),
        },
    )
    if with_attachments:
        for item in mail.attachments:
            rows.insert(_ATTACHMENTS, {"message_id": message, **_attachment(item)})
    return AddedMessage(message, session)


def _inbound_message(
    mail: ParsedMail,
    text: str,
    internal: bool,
    inbound_id: int | None,
    now: datetime,
    from_address: str | None,
) -> dict[str, Any]:
    """The columns of an inbound message but its ticket."""
    sender = from_address or (mail.from_.address if mail.from_ else "")
    return {
        "direction": "in",
        "internal": internal,
        "from_address": sender[:320],
        "to_addresses": json.dumps([a.address for a in mail.to + mail.cc]),
        "subject": mail.subject,
        "message_id": mail.message_id,
        "text": text,
        "inbound_id": inbound_id,
        "at": now,
    }


def _attachment(item: Attachment) -> dict[str, Any]:
    """The columns of a stored attachment but its message."""
    return {
        "filename": item.filename,
        "content_type": item.content_type,
        "size": item.size,
        "data": item.data,
        "inline": item.inline,
    }


@dataclass(frozen=True)
class NewTicket:
    """A ticket opened in this transaction, its rows still pending in the session's buffer.

    Its reference is known at once (the number comes from the locked counter); its id only
    once the buffer is written, which happens before anything could read it
    (aliasdesk.db.bulk).
    """

    department: str
    number: int
    row: Draft

    @property
    def ref(self) -> str:
        return f"{self.department}-{self.number}"


def open_ticket(
    session: Session,
    *,
    department: str,
    mail: ParsedMail,
    text: str,
    priority: str | None,
    config: RoutingConfig,
    inbound_id: int | None,
    now: datetime,
    send_mail: bool = True,
    requester: Requester | None = None,
) -> NewTicket:
    """Create the ticket, its first message and event, watchers, and the assignment job.

    The rows go to the session's buffer rather than through the ORM: a backlog opens one
    ticket per mail, and these rows are only read again after the mail is done.
    """
    buffer = work_of(session).rows
    sender = mail.from_.address if mail.from_ else ""
    who = requester or Requester(sender, mail.from_.name if mail.from_ else "")
    subject = who.subject if who.subject is not None else mail.subject
    number = next_ticket_number(session, department)
    ticket = buffer.draft(
        _TICKETS,
        {
            "department": department,
            "number": number,
            "subject": ticket_subject(subject),
            "requester": who.address[:320],
            "requester_name": who.name[:255],
            "status": "new",
            "priority": priority or "normal",
            "reply_token": secrets.token_hex(8),
            "alias": _alias_written_to(mail, config, department),
            "origin_message_id": who.origin_message_id or mail.message_id,
            "assigned": False,
            "created_at": now,
            "updated_at": now,
        },
    )
    new = NewTicket(department, number, ticket)
    add_message(
        session,
        new,
        mail,
        text=text,
        internal=False,
        inbound_id=inbound_id,
        now=now,
        from_address=who.address,
    )
    actor = who.opened_by or who.address
    detail = f"opened from mail to {department}" + (
        f", forwarded by {who.opened_by} for {who.address}" if who.opened_by else ""
    )
    add_event(session, new, "created", actor, detail, now)
    _watch_and_assign(session, new, mail, config, {who.address, sender}, send_mail, now)
    return new


def _watch_and_assign(
    session: Session,
    new: NewTicket,
    mail: ParsedMail,
    config: RoutingConfig,
    requesters: set[str],
    send_mail: bool,
    now: datetime,
) -> None:
    """The new ticket's watchers (the request's other addressees) and its assignment job."""
    buffer = work_of(session).rows
    watchers = _watchers(mail, config, new.department, requesters)
    names = _display_names(mail, watchers)
    for address in watchers:
        row = {"ticket_id": new.row, "address": address, "name": names.get(address, "")}
        buffer.insert(_WATCHERS, row)
    buffer.insert(
        _JOBS,
        {
            "kind": "ticket_created",
            "ticket_id": new.row,
            "delivery_id": None,
            "payload": json.dumps({"send_mail": send_mail}),
            "state": "pending",
            "attempts": 0,
            "available_at": now,
            "created_at": now,
        },
    )


def _alias_written_to(mail: ParsedMail, config: RoutingConfig, department: str) -> str | None:
    """The department's alias the requester wrote to (people@ rather than hr@), if any."""
    for address in mail.recipients():
        owner = config.department_for_alias(address.address)
        if owner is not None and owner.key == department:
            return address.address
    return None


def department_sender(ticket: Ticket, config: RoutingConfig) -> str:
    """The address every mail about ``ticket`` is sent from: the alias the requester used,
    while it still belongs to the department, else the department's first alias."""
    department = config.departments.get(ticket.department)
    if department is None:
        return ticket.alias or ticket.requester
    if ticket.alias and ticket.alias in department.aliases:
        return ticket.alias
    return department.primary_alias


def owner_side(ticket: Ticket, config: RoutingConfig) -> list[str]:
    """Who hears what is written on ``ticket`` for the department: its owner, while they
    are still a member of its department; otherwise (nobody owns it, or the routing file
    took them out of the department) every member of it. A former member keeps no view
    of the department's tickets."""
    department = config.departments.get(ticket.department)
    if ticket.owner and department is not None and department.has_member(ticket.owner):
        return [ticket.owner]
    return list(department.members) if department else []


def _watchers(
    mail: ParsedMail, config: RoutingConfig, department: str, skip: set[str]
) -> list[str]:
    """People copied on the request: not us, not the requester (or forwarder), and not the
    department's members, who follow the ticket as members rather than from the outside.

    Anyone can send a mail with 100,000 recipients, and this runs while the batch holds the
    database's write lock: each address is looked at once against sets, and the walk stops
    at the first MAX_WATCHERS kept.
    """
    aliases = config.all_aliases()
    seen: set[str] = set()
    kept: list[str] = []
    for address in (a.address for a in mail.cc + mail.to):
        if not address or address in seen:
            continue
        seen.add(address)
        if address in skip or address in aliases or config.is_member(address, department):
            continue
        kept.append(address)
        if len(kept) == MAX_WATCHERS:
            break
    return kept


def _display_names(mail: ParsedMail, addresses: Sequence[str]) -> dict[str, str]:
    """The names the request gives the copied people ("Erin Watts" <erin@…>), so their
    mail greets them by it; one walk over the recipients that stops once all are found."""
    wanted = set(addresses)
    names: dict[str, str] = {}
    for item in mail.cc + mail.to:
        if item.address in wanted and item.address not in names:
            names[item.address] = " ".join(item.name.split())[:255]
            if len(names) == len(wanted):
                break
    return names


def link_tickets(
    session: Session, tickets: Sequence[NewTicket], *, replaces: int | None = None
) -> None:
    """Tickets opened from one mail in several departments each list the others; a new
    ticket opened by a reply to a closed one (``replaces``) and the closed one list each
    other too."""
    buffer = work_of(session).rows
    for ticket in tickets:
        if replaces is not None:
            buffer.insert(_LINKS, {"ticket_id": ticket.row, "linked_id": replaces})
            buffer.insert(_LINKS, {"ticket_id": replaces, "linked_id": ticket.row})
        for other in tickets:
            if ticket.row is not other.row:
                buffer.insert(_LINKS, {"ticket_id": ticket.row, "linked_id": other.row})
