"""Confirming by mail what the ticket page would do in the requester's name.

A page link opens the page for whoever holds it, and links travel with forwarded mail.
A reply typed on the page, or "my request is solved", is therefore not applied at once:
it is stored with a confirmation mail to the requester's own address (a delivery whose
cause carries a random nonce), and applied only when the link in that mail is followed
and its page's button pressed. A rating is not asked about: it says how the help went and
changes nothing a person relies on.
"""

from __future__ import annotations

import hmac
import json
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from aliasdesk.db.models import Delivery, Ticket, TicketMessage
from aliasdesk.domain.organisation import RoutingConfig
from aliasdesk.notify.catalogue.page_confirmation import PAGE_CONFIRMATION
from aliasdesk.services.notifications import queue_notification
from aliasdesk.services.ticket_page import (
    REPLY_LIMIT,
    page_message_id,
    reply_from_page,
    solve_from_page,
)
from aliasdesk.services.tickets import department_sender

CONFIRM_DAYS = 7
"""How long a confirmation link works; the requester can simply ask again later."""
ACTIONS = ("reply", "solve")
_NONCE = re.compile(r"^[A-Za-z0-9_-]{32}$")


@dataclass(frozen=True, slots=True)
class PendingAction:
    """What the page asked for and is waiting on the requester's confirmation."""

    action: str
    text: str
    nonce: str
    delivery_id: int = 0
    """The confirmation mail's delivery, where carrying the action out is recorded."""
    done: bool = False
    """Carried out already: a confirmation link does its action once."""


def ask_confirmation(
    session: Session, ticket: Ticket, action: str, text: str, config: RoutingConfig, now: datetime
) -> bool:
    """Queue the confirmation mail; False when no mail could be queued (the hourly cap on
    automatic mail to one address), so the page can say so."""
    if action not in ACTIONS:
        raise ValueError(f"unknown page action {action!r}")
    nonce = secrets.token_urlsafe(24)
    queued = queue_notification(
        session,
        kind=PAGE_CONFIRMATION.name,
        recipient=ticket.requester,
        sender=department_sender(ticket, config),
        cause=f"page:{nonce}",
        now=now,
        ticket=ticket,
        context={"action": action, "reply_text": text[:REPLY_LIMIT], "nonce": nonce},
        domain=config.domains[0] if config.domains else "aliasdesk.invalid",
        outside=not config.is_staff(ticket.requester),
    )
    return queued is not None


def pending_action(
    session: Session, ticket: Ticket, nonce: str, now: datetime, *, lock: bool = False
) -> PendingAction | None:
    """The action a confirmation link stands for, if it is this ticket's and still fresh.

    ``lock``: about to carry it out; a second press of the button (another tab, a double
    click) waits on the row until the first has committed, and then finds it done.
    """
    if not _NONCE.fullmatch(nonce):
        return None
    query = select(Delivery).where(
        Delivery.cause == f"page:{nonce}",
        Delivery.kind == PAGE_CONFIRMATION.name,
        Delivery.ticket_id == ticket.id,
    )
    row = session.scalar(query.with_for_update() if lock else query)
    if row is None or now - row.created_at > timedelta(days=CONFIRM_DAYS):
        return None
    facts = json.loads(row.context or "{}")
    if not hmac.compare_digest(str(facts.get("nonce", "")).encode(), nonce.encode()):
        return None
    return PendingAction(
        str(facts.get("action", "")),
        str(facts.get("reply_text", "")),
        nonce,
        delivery_id=row.id,
        done=bool(facts.get("carried_out")),
    )


def carry_out(
    session: Session, ticket: Ticket, pending: PendingAction, config: RoutingConfig, now: datetime
) -> str:
    """Apply a confirmed action once. The confirmation's delivery records that it was
    carried out (a "solved" link pressed again a week later must not resolve a ticket a
    member has opened since), and a reply's Message-ID is made from the nonce as well.
    A closed ticket takes nothing from its page: mail opens a new ticket after it."""
    if pending.done:
        return "confirmed-already"
    if ticket.status == "closed":
        return "closed"
    if pending.action == "solve":
        outcome = "solved" if solve_from_page(session, ticket, config, now) else "not-solved"
    else:
        message_id = page_message_id(pending.nonce, config)
        done = session.scalar(
            select(TicketMessage.id).where(
                TicketMessage.ticket_id == ticket.id, TicketMessage.message_id == message_id
            )
        )
        if done is not None:
            return "confirmed-already"
        reply_from_page(session, ticket, pending.text, config, now, message_id=message_id)
        outcome = "reply"
    _record_carried_out(session, pending.delivery_id, now)
    return outcome


def _record_carried_out(session: Session, delivery_id: int, now: datetime) -> None:
    delivery = session.get(Delivery, delivery_id)
    if delivery is not None:
        facts = json.loads(delivery.context or "{}")
        delivery.context = json.dumps({**facts, "carried_out": now.isoformat()})
