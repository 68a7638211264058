"""Replies to a ticket: who wrote it, what is new, which commands apply, who hears of it.

Only members of the ticket's department change a ticket; anyone else is told why their
command was not applied (CONTRACT §5). Mail from people outside the conversation is kept
for the owner only and never relayed to the requester.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from aliasdesk.db.models import Delivery, Ticket, Watcher
from aliasdesk.domain.commands import Command, parse_commands
from aliasdesk.domain.organisation import RoutingConfig
from aliasdesk.mail.model import ParsedMail
from aliasdesk.mail.reply import extract_reply
from aliasdesk.services.authentication import sender_authenticated
from aliasdesk.services.notifications import queue_notification
from aliasdesk.services.tickets import add_event, add_message
from aliasdesk.services.transitions import apply_command

_RATING = re.compile(r"^\s*([1-5])(?:\s*/\s*5)?(?![0-9])[\s.,:;!)-]*(.*)$", re.DOTALL)


@dataclass
class ReplyOutcome:
    role: str
    applied: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    reason: str = ""


def role_of(session: Session, ticket: Ticket, sender: str, config: RoutingConfig) -> str:
    if config.is_member(sender, ticket.department):
        return "member"
    if sender == ticket.requester:
        return "requester"
    watcher = session.get(Watcher, (ticket.id, sender))
    if watcher is not None:
        return "watcher"
    if config.departments_of_member(sender):
        return "other_member"
    return "stranger"


def feedback_rating(text: str) -> tuple[int, str] | None:
    """A reply whose first word is a digit 1–5 is a rating; the rest is the comment."""
    match = _RATING.match(text)
    if match is None:
        return None
    return int(match.group(1)), match.group(2).strip()


def feedback_was_requested(session: Session, ticket: Ticket) -> bool:
    return (
        session.scalar(
            select(Delivery.id)
            .where(Delivery.ticket_id == ticket.id, Delivery.kind == "feedback_request")
            .limit(1)
        )
        is not None
    )


def try_record_feedback(
    session: Session, ticket: Ticket, mail: ParsedMail, inbound_id: int | None, now: datetime
) -> bool:
    """Record a rating reply from the requester on a resolved or closed ticket."""
    sender = mail.from_.address if mail.from_ else ""
    if sender != ticket.requester or ticket.status not in {"resolved", "closed"}:
        return False
    if not feedback_was_requested(session, ticket):
        return False
    rating = feedback_rating(extract_reply(mail.text))
    if rating is None:
        return False
    ticket.rating, ticket.rating_comment = rating[0], rating[1][:4000] or None
    add_message(
        session,
        ticket,
        mail,
        text=extract_reply(mail.text),
        internal=False,
        inbound_id=inbound_id,
        now=now,
    )
    add_event(session, ticket, "feedback", sender, f"rated {rating[0]}/5", now)
    return True


def apply_reply(
    session: Session,
    ticket: Ticket,
    mail: ParsedMail,
    *,
    config: RoutingConfig,
    inbound_id: int | None,
    now: datetime,
    require_authentication: bool = False,
) -> ReplyOutcome:
    """Add a reply to ``ticket`` and carry out what it asks for, if its sender may."""
    sender = mail.from_.address if mail.from_ else ""
    role = role_of(session, ticket, sender, config)
    if role == "requester" and try_record_feedback(session, ticket, mail, inbound_id, now):
        return ReplyOutcome(role, reason=f"feedback {ticket.rating}/5 on {ticket.ref}")
    # A reply that is only a forward or a signature has no "new text": keep the whole body.
    block = parse_commands(extract_reply(mail.text) or mail.text.strip())
    outcome = ReplyOutcome(role)
    cause = f"in:{inbound_id}" if inbound_id is not None else f"in:{mail.message_id}"
    if role == "member":
        authenticated = not require_authentication or sender_authenticated(mail, sender)
        _member_reply(
            session,
            ticket,
            mail,
            block.commands,
            block.remaining_text,
            outcome,
            config=config,
            authenticated=authenticated,
            inbound_id=inbound_id,
            cause=cause,
            now=now,
        )
    else:
        _other_reply(
            session,
            ticket,
            mail,
            block.commands,
            block.remaining_text,
            outcome,
            config=config,
            inbound_id=inbound_id,
            cause=cause,
            now=now,
        )
    if outcome.refused:
        _tell_refused(session, ticket, sender, outcome, config, cause, now)
    outcome.reason = outcome.reason or f"reply from the {role.replace('_', ' ')} on {ticket.ref}"
    return outcome


def _member_reply(
    session: Session,
    ticket: Ticket,
    mail: ParsedMail,
    commands: tuple[Command, ...],
    text: str,
    outcome: ReplyOutcome,
    *,
    config: RoutingConfig,
    authenticated: bool,
    inbound_id: int | None,
    cause: str,
    now: datetime,
) -> None:
    sender = mail.from_.address if mail.from_ else ""
    internal = any(c.name == "note" and c.error is None for c in commands)
    if commands and not authenticated:
        outcome.refused += [
            f"{c}: the sender's domain did not pass authentication" for c in commands
        ]
        commands = ()
        internal = True
    status_before = ticket.status
    for command in commands:
        result = apply_command(
            session, ticket, command, actor=sender, config=config, cause=cause, now=now
        )
        (outcome.applied if result.applied else outcome.refused).append(result.message)
    if ticket.first_response_at is None:
        ticket.first_response_at = now
    if ticket.status == "new":
        apply_command(
            session,
            ticket,
            Command("status", "open"),
            actor=sender,
            config=config,
            cause=cause,
            now=now,
            quiet=True,
        )
    if text:
        add_message(
            session, ticket, mail, text=text, internal=internal, inbound_id=inbound_id, now=now
        )
        add_event(
            session,
            ticket,
            "note" if internal else "reply",
            sender,
            "internal note" if internal else "reply to the requester",
            now,
        )
        if not internal:
            _relay(session, ticket, sender, text, mail, config, cause, now, to_requester=True)
    del status_before


def _other_reply(
    session: Session,
    ticket: Ticket,
    mail: ParsedMail,
    commands: tuple[Command, ...],
    text: str,
    outcome: ReplyOutcome,
    *,
    config: RoutingConfig,
    inbound_id: int | None,
    cause: str,
    now: datetime,
) -> None:
    sender = mail.from_.address if mail.from_ else ""
    who = {"requester": "the requester", "watcher": "someone copied on the ticket"}.get(
        outcome.role, f"{sender}, who is not a member of {ticket.department}"
    )
    for command in commands:
        outcome.refused.append(
            f"{command}: only members of {ticket.department} can change a ticket; "
            f"this mail came from {who}"
        )
    internal = outcome.role not in {"requester", "watcher"}
    body = text if commands else (extract_reply(mail.text) or mail.text.strip())
    add_message(session, ticket, mail, text=body, internal=internal, inbound_id=inbound_id, now=now)
    add_event(
        session,
        ticket,
        "reply",
        sender,
        "reply from the requester" if outcome.role == "requester" else f"mail from {who}",
        now,
    )
    if outcome.role == "requester" and ticket.status in {"resolved", "pending"}:
        apply_command(
            session,
            ticket,
            Command("status", "open"),
            actor=sender,
            config=config,
            cause=cause,
            now=now,
            reopen=True,
        )
    if ticket.owner:
        _relay(session, ticket, sender, body, mail, config, cause, now, to_requester=False)


def _relay(
    session: Session,
    ticket: Ticket,
    author: str,
    text: str,
    mail: ParsedMail,
    config: RoutingConfig,
    cause: str,
    now: datetime,
    *,
    to_requester: bool,
) -> None:
    department = config.departments.get(ticket.department)
    sender = department.primary_alias if department else ticket.requester
    context = {
        "author": author,
        "author_name": mail.from_.name if mail.from_ else "",
        "reply_text": text[:20000],
        "attachments": [a.filename for a in mail.attachments if not a.inline][:20],
        "inbound_message_id": mail.message_id,
    }
    if to_requester:
        recipients = [ticket.requester] + [
            w.address
            for w in session.scalars(select(Watcher).where(Watcher.ticket_id == ticket.id))
        ]
    else:
        recipients = [ticket.owner] if ticket.owner else []
    for recipient in recipients:
        if recipient and recipient != author:
            queue_notification(
                session,
                kind="reply_relay",
                recipient=recipient,
                sender=sender,
                cause=cause,
                now=now,
                ticket=ticket,
                context=context,
                domain=_domain(config),
            )


def _tell_refused(
    session: Session,
    ticket: Ticket,
    sender: str,
    outcome: ReplyOutcome,
    config: RoutingConfig,
    cause: str,
    now: datetime,
) -> None:
    department = config.departments.get(ticket.department)
    queue_notification(
        session,
        kind="command_result",
        recipient=sender,
        sender=department.primary_alias if department else sender,
        cause=cause,
        now=now,
        ticket=ticket,
        context={"applied": outcome.applied, "refused": outcome.refused},
        domain=_domain(config),
    )


def _domain(config: RoutingConfig) -> str:
    return config.domains[0] if config.domains else "aliasdesk.invalid"
