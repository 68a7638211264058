"""Stage 4: is this a reply to a ticket we know?

Tried in the order of CONTRACT §5: the ``[KEY-N]`` subject tag, then In-Reply-To and
References (RFC 5322 §3.6.4) against every Message-ID we stored or sent, then the reply
address token (``alias+TOKEN@domain``). A tag naming no ticket opens a new ticket.
A ticket merged or moved into another (``#merge``, ``#move``) hands its mail on to it.
"""

from __future__ import annotations

from sqlalchemy import select

from aliasdesk.db.models import Delivery, Ticket, TicketMessage
from aliasdesk.domain.refs import refs_in_subject
from aliasdesk.inbound.context import InboundContext, ThreadMatch

NAME = "thread"
MAX_HANDOVERS = 20
"""Merges followed at most; a chain is longer only if something wrote a cycle."""


def run(ctx: InboundContext) -> None:
    if ctx.session is None:
        return
    match = _by_tag(ctx) or _by_headers(ctx) or _by_token(ctx)
    if match is None:
        ctx.note(NAME, "not a reply to a known ticket: a new request")
        return
    match = _handed_on(ctx, match)
    ctx.thread = match
    ctx.note(
        NAME, f"reply to {match.ref} ({match.how})" + (", which is closed" if match.closed else "")
    )


def _handed_on(ctx: InboundContext, match: ThreadMatch) -> ThreadMatch:
    """The ticket that now holds ``match``'s conversation: merges followed to the last one,
    never round a cycle (the commands refuse one, but the chain is data, so it is checked)."""
    assert ctx.session is not None and match.ticket_id is not None
    seen = {match.ticket_id}
    ticket = ctx.session.get(Ticket, match.ticket_id)
    while ticket is not None and ticket.merged_into_id is not None and len(seen) < MAX_HANDOVERS:
        following = ctx.session.get(Ticket, ticket.merged_into_id)
        if following is None or following.id in seen:
            break
        ctx.note(NAME, f"{ticket.ref} was handed on to {following.ref}")
        seen.add(following.id)
        ticket = following
    if ticket is None or ticket.id == match.ticket_id:
        return match
    return _found(ctx, ticket, f"{match.how}, handed on from {match.ref}")


def _found(ctx: InboundContext, ticket: Ticket, how: str) -> ThreadMatch:
    """The match; its ticket is kept for the stages after this one, which read it too."""
    ctx.held.append(ticket)
    return ThreadMatch(ticket.id, ticket.ref, how, closed=ticket.status == "closed")


def _by_tag(ctx: InboundContext) -> ThreadMatch | None:
    assert ctx.session is not None
    for ref in refs_in_subject(ctx.mail.subject):
        ticket = ctx.session.scalar(
            select(Ticket).where(Ticket.department == ref.department, Ticket.number == ref.number)
        )
        if ticket is not None:
            return _found(ctx, ticket, f"subject tag {ref.tag}")
        ctx.note(NAME, f"subject tag {ref.tag} names no ticket")
    return None


def _by_headers(ctx: InboundContext) -> ThreadMatch | None:
    assert ctx.session is not None
    ids = list(dict.fromkeys(ctx.mail.in_reply_to + tuple(reversed(ctx.mail.references))))[:40]
    if not ids:
        return None
    ticket_id = ctx.session.scalar(
        select(TicketMessage.ticket_id)
        .where(TicketMessage.message_id.in_(ids))
        .order_by(TicketMessage.id.desc())
        .limit(1)
    )
    if ticket_id is None:
        ticket_id = ctx.session.scalar(
            select(Delivery.ticket_id)
            .where(Delivery.message_id.in_(ids), Delivery.ticket_id.is_not(None))
            .limit(1)
        )
    if ticket_id is None:
        return None
    ticket = ctx.session.get(Ticket, ticket_id)
    return _found(ctx, ticket, "In-Reply-To/References") if ticket else None


def _by_token(ctx: InboundContext) -> ThreadMatch | None:
    assert ctx.session is not None
    for address in ctx.mail.recipients():
        local, _, domain = address.address.partition("@")
        base, plus, token = local.partition("+")
        if not plus or not token or ctx.config.department_for_alias(f"{base}@{domain}") is None:
            continue
        ticket = ctx.session.scalar(select(Ticket).where(Ticket.reply_token == token.lower()))
        if ticket is not None:
            return _found(ctx, ticket, f"reply address {address.address}")
    return None
