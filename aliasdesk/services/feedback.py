"""The requester's rating, and who hears of it.

A reply whose first word is a digit 1–5 to a feedback request records the rating and the
rest as a comment, and reopens nothing (CONTRACT §5). Then the loop is closed: the owner
hears the rating and comment, the requester is thanked, and a rating of 1 or 2 reaches
the department's leads (the admins where it names none) with the public conversation.

Anyone can write with the requester's From, so what a rating sends stays inside: the
owner and the leads are the department's people, and the thank-you goes to the
requester's own address, never to whoever wrote. The thank-you and the leads' alert go
at most once a day per ticket, so a requester changing their mind (or someone forging
ratings) cannot make them a flood; the owner hears every rating.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from aliasdesk.db.models import Delivery, Ticket, TicketMessage
from aliasdesk.domain.organisation import RoutingConfig
from aliasdesk.mail.model import ParsedMail
from aliasdesk.mail.reply import extract_reply
from aliasdesk.notify.catalogue.feedback_request import FEEDBACK_REQUEST
from aliasdesk.notify.catalogue.poor_rating_alert import POOR_RATING_ALERT
from aliasdesk.notify.catalogue.rating_facts import POOR_RATING
from aliasdesk.notify.catalogue.rating_received import RATING_RECEIVED
from aliasdesk.notify.catalogue.rating_thanks import RATING_THANKS
from aliasdesk.services.mail_facts import person_name
from aliasdesk.services.notifications import inbound_cause, queue_notification, sent_recently
from aliasdesk.services.tickets import add_event, add_message, department_sender, owner_side

_RATING_WORD = re.compile(r"^([1-5])(?:/5)?[.,:;!)]*$")
ONCE_PER = timedelta(days=1)
"""The thank-you and the leads' alert go at most once per ticket in this time."""
CONVERSATION_MAILS = 12
"""The latest public mails of the ticket the leads' alert carries; the rest are named."""


def feedback_rating(text: str) -> tuple[int, str] | None:
    """A reply whose first word is a digit 1–5 is a rating; the rest is the comment.

    "4 good job", "4/5 thanks", "5!" count; "4.5", "10" or "3pm works" do not.
    """
    words = text.strip().split(maxsplit=1)
    match = _RATING_WORD.match(words[0]) if words else None
    if match is None:
        return None
    comment = words[1] if len(words) > 1 else ""
    return int(match.group(1)), comment.lstrip("-–:, ").strip()


def feedback_was_requested(session: Session, ticket: Ticket) -> bool:
    return (
        session.scalar(
            select(Delivery.id)
            .where(Delivery.ticket_id == ticket.id, Delivery.kind == FEEDBACK_REQUEST.name)
            .limit(1)
        )
        is not None
    )


def try_record_feedback(
    session: Session,
    ticket: Ticket,
    mail: ParsedMail,
    *,
    config: RoutingConfig,
    inbound_id: int | None,
    now: datetime,
) -> bool:
    """Record a rating reply from the requester on a resolved or closed ticket, and tell
    whoever should hear of it.

    The ticket keeps its status: a rating says how it went, not that work is left.
    """
    sender = mail.from_.address if mail.from_ else ""
    if sender != ticket.requester or ticket.status not in {"resolved", "closed"}:
        return False
    if not feedback_was_requested(session, ticket):
        return False
    text = extract_reply(mail.text) or mail.text.strip()
    rating = feedback_rating(text)
    if rating is None:
        return False
    ticket.rating, ticket.rating_comment = rating[0], rating[1][:4000] or None
    add_message(session, ticket, mail, text=text, internal=False, inbound_id=inbound_id, now=now)
    comment = f": {rating[1][:200]}" if rating[1] else ""
    add_event(session, ticket, "feedback", sender, f"rated {rating[0]}/5{comment}", now)
    cause = inbound_cause(inbound_id, mail.message_id)
    _tell(_Rating(session, ticket, config, cause, now), ticket.rating_comment or "")
    return True


class _Rating:
    """One recorded rating and what queueing its mails needs."""

    def __init__(
        self, session: Session, ticket: Ticket, config: RoutingConfig, cause: str, now: datetime
    ) -> None:
        self.session, self.ticket, self.config = session, ticket, config
        self.cause, self.now = cause, now

    def queue(self, kind: str, recipient: str, facts: dict[str, Any]) -> None:
        queue_notification(
            self.session,
            kind=kind,
            recipient=recipient,
            sender=department_sender(self.ticket, self.config),
            cause=self.cause,
            now=self.now,
            ticket=self.ticket,
            context=facts,
            domain=self.config.domains[0] if self.config.domains else "aliasdesk.invalid",
            outside=not self.config.is_staff(recipient),
        )

    def not_sent_lately(self, kind: str, recipient: str) -> bool:
        since = self.now - ONCE_PER
        return not sent_recently(self.session, self.ticket, kind, recipient, since)


def _tell(rating: _Rating, comment: str) -> None:
    """The owner's notice, the requester's thank-you and, for a poor rating, the leads'
    alert; the conversation is read only when an alert will go."""
    ticket, config = rating.ticket, rating.config
    facts: dict[str, Any] = {"rating": ticket.rating, "comment": comment}
    for person in owner_side(ticket, config):
        rating.queue(RATING_RECEIVED.name, person, facts)
    if rating.not_sent_lately(RATING_THANKS.name, ticket.requester):
        rating.queue(RATING_THANKS.name, ticket.requester, facts)
    if ticket.rating is None or ticket.rating > POOR_RATING:
        return
    leads = [
        lead
        for lead in _leads(ticket, config)
        if rating.not_sent_lately(POOR_RATING_ALERT.name, lead)
    ]
    if leads:
        alert = {**facts, **_conversation(rating.session, ticket, config)}
        for lead in leads:
            rating.queue(POOR_RATING_ALERT.name, lead, alert)


def _leads(ticket: Ticket, config: RoutingConfig) -> list[str]:
    """The department's leads; where it names none, the admins, so a poor rating is
    never heard by nobody but the person it is about."""
    department = config.departments.get(ticket.department)
    leads = department.leads if department and department.leads else config.admins
    return [lead for lead in dict.fromkeys(leads) if lead != ticket.requester]


def _conversation(session: Session, ticket: Ticket, config: RoutingConfig) -> dict[str, Any]:
    """The mails the requester and the department exchanged, latest last.

    Only mail taken in and not internal: the requester's mails and the members' public
    answers (each stored once, as it came in); notes, strangers' mail and our automatic
    mail are left out, as the requester never saw them as part of the conversation.
    """
    public = (
        TicketMessage.ticket_id == ticket.id,
        TicketMessage.direction == "in",
        TicketMessage.internal.is_(False),
    )
    total = session.scalar(select(func.count()).select_from(TicketMessage).where(*public)) or 0
    rows = session.execute(
        select(TicketMessage.at, TicketMessage.from_address, TicketMessage.text)
        .where(*public)
        .order_by(TicketMessage.id.desc())
        .limit(CONVERSATION_MAILS)
    ).all()
    return {
        "conversation": [
            {"at": at.isoformat(), "author": _author(ticket, config, sender), "text": text[:4000]}
            for at, sender, text in reversed(rows)
        ],
        "left_out": total - len(rows),
    }


def _author(ticket: Ticket, config: RoutingConfig, address: str) -> str:
    given = ticket.requester_name if address == ticket.requester else ""
    return person_name(config, address, given)
