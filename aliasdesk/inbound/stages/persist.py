"""Stage 6: write the ticket or the update, and the outbox jobs, in the caller's transaction.

A reply to a closed ticket from its requester is either a rating or a new request (a new
ticket that links the closed one); a department member's mail to a closed ticket is still
an answer on it. A request a member forwarded is opened for the person who wrote it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import select

from aliasdesk.db.bulk import buffer_of
from aliasdesk.db.models import Delivery, Ticket
from aliasdesk.inbound.context import InboundContext
from aliasdesk.mail.forward import find_forwarded, without_forward_prefix
from aliasdesk.services.conversation import apply_reply, try_record_feedback
from aliasdesk.services.tickets import (
    NewTicket,
    Requester,
    add_event,
    add_first_event,
    add_first_message,
    add_message,
    link_both_ways,
    link_tickets,
    open_ticket,
)

NAME = "persist"


def run(ctx: InboundContext) -> None:
    if ctx.session is None or ctx.dry_run:
        _describe_dry_run(ctx)
        return
    now = ctx.now or datetime.now(UTC)
    if ctx.outcome == "update_ticket" and ctx.bounce_delivery_ids:
        _record_bounce(ctx, now)
        return
    if ctx.done:
        return
    if ctx.thread is not None and ctx.thread.ticket_id is not None:
        ticket = ctx.session.get(Ticket, ctx.thread.ticket_id)
        assert ticket is not None
        sender = ctx.mail.from_.address if ctx.mail.from_ else ""
        if not ctx.thread.closed or ctx.config.is_member(sender, ticket.department):
            _reply(ctx, ticket, now)
            return
        if try_record_feedback(ctx.session, ticket, ctx.mail, ctx.inbound_id, now):
            _settle(ctx, [ticket], "update_ticket", f"feedback {ticket.rating}/5 on {ticket.ref}")
            return
    _open(ctx, now)


def _reply(ctx: InboundContext, ticket: Ticket, now: datetime) -> None:
    assert ctx.session is not None
    result = apply_reply(
        ctx.session,
        ticket,
        ctx.mail,
        config=ctx.config,
        inbound_id=ctx.inbound_id,
        now=now,
        require_authentication=ctx.settings.require_authentication_results,
    )
    for line in result.applied:
        ctx.note(NAME, f"applied {line}")
    for line in result.refused:
        ctx.note(NAME, f"refused {line}")
    _settle(ctx, [ticket], "update_ticket", result.reason)


def _open(ctx: InboundContext, now: datetime) -> None:
    assert ctx.session is not None and ctx.decision is not None
    closed = _closed_ticket(ctx)
    requester, text, note = _requester(ctx, closed)
    tickets: list[NewTicket] = []
    for department in ctx.decision.departments:
        if department not in ctx.config.departments:
            ctx.finish("quarantined", f"department {department} is not in the routing file")
            return
        ticket = open_ticket(
            ctx.session,
            department=department,
            mail=ctx.mail,
            text=text,
            priority=ctx.decision.priority,
            config=ctx.config,
            inbound_id=ctx.inbound_id,
            now=now,
            send_mail=ctx.settings.send_mail,
            requester=requester,
        )
        if note and requester is not None and requester.opened_by:
            _forwarders_note(ctx, ticket, requester.opened_by, note, now)
        if closed is not None:
            link_both_ways(ctx.session, ticket, closed.id)
        tickets.append(ticket)
    link_tickets(ctx.session, tickets)
    refs = ", ".join(t.ref for t in tickets)
    _settle(ctx, tickets, "new_ticket", f"new ticket {refs}: {ctx.decision.reason}")


def _closed_ticket(ctx: InboundContext) -> Ticket | None:
    """The closed ticket this mail answered, when it opens a new one in its place."""
    if ctx.session is None or ctx.thread is None or ctx.thread.ticket_id is None:
        return None
    return ctx.session.get(Ticket, ctx.thread.ticket_id) if ctx.thread.closed else None


def _requester(ctx: InboundContext, closed: Ticket | None) -> tuple[Requester | None, str, str]:
    """Who the new ticket is for, its first text, and a forwarder's own note (if any)."""
    mail = ctx.mail
    sender = mail.from_.address if mail.from_ else ""
    if closed is not None:
        # The old tag must not stay in the subject: replies would thread to the closed one.
        subject = re.sub(r"\[\s*" + re.escape(closed.ref) + r"\s*\]", " ", mail.subject, flags=re.I)
        subject = " ".join(without_forward_prefix(subject).split()) or closed.subject
        name = mail.from_.name if mail.from_ else ""
        return Requester(sender, name, subject=subject), mail.text, ""
    if not ctx.config.departments_of_member(sender):
        return None, mail.text, ""  # only staff pass requests on; others ask for themselves
    forwarded = find_forwarded(mail.text, mail.subject, ctx.raw)
    if forwarded is None or forwarded.sender in {sender, *ctx.config.all_aliases()}:
        return None, mail.text, ""
    ctx.note(NAME, f"forwarded by {sender}: opened for the original sender {forwarded.sender}")
    requester = Requester(
        forwarded.sender,
        forwarded.name,
        subject=forwarded.subject or without_forward_prefix(mail.subject),
        origin_message_id=forwarded.message_id,
        opened_by=sender,
    )
    return requester, forwarded.text or mail.text, forwarded.note


def _forwarders_note(
    ctx: InboundContext, ticket: NewTicket, forwarder: str, note: str, now: datetime
) -> None:
    """What the colleague wrote above the forward is for the team, not for the requester."""
    assert ctx.session is not None
    buffer = buffer_of(ctx.session)
    add_first_message(
        buffer,
        ticket,
        ctx.mail,
        text=note,
        internal=True,
        inbound_id=ctx.inbound_id,
        now=now,
        with_attachments=False,
    )
    add_first_event(
        buffer, ticket, "note", forwarder, "note from the colleague who forwarded it", now
    )


def _record_bounce(ctx: InboundContext, now: datetime) -> None:
    """A report that our mail failed: mark the delivery and tell the ticket (internally)."""
    assert ctx.session is not None
    tickets: list[Ticket] = []
    for delivery in ctx.session.scalars(
        select(Delivery).where(Delivery.id.in_(ctx.bounce_delivery_ids))
    ):
        delivery.state = "failed"
        delivery.last_error = f"bounced: {ctx.mail.subject[:200]}"
        ticket = ctx.session.get(Ticket, delivery.ticket_id) if delivery.ticket_id else None
        if ticket is not None and ticket not in tickets:
            add_message(
                ctx.session,
                ticket,
                ctx.mail,
                text=ctx.mail.text[:20000],
                internal=True,
                inbound_id=ctx.inbound_id,
                now=now,
            )
            add_event(
                ctx.session,
                ticket,
                "note",
                "mailer-daemon",
                f"delivery of {delivery.kind} to {delivery.recipient} failed",
                now,
            )
            tickets.append(ticket)
    ctx.ticket_refs = [t.ref for t in tickets]


def _settle(
    ctx: InboundContext, tickets: Sequence[Ticket | NewTicket], outcome: str, reason: str
) -> None:
    ctx.ticket_refs = [t.ref for t in tickets]
    ctx.finish(outcome, reason)
    ctx.note(NAME, reason)


def _describe_dry_run(ctx: InboundContext) -> None:
    if ctx.done:
        return
    if ctx.thread is not None and not ctx.thread.closed:
        ctx.finish("update_ticket", f"would be added to {ctx.thread.ref}")
        ctx.ticket_refs = [ctx.thread.ref or ""]
    elif ctx.decision is not None:
        ctx.finish("new_ticket", f"would open a ticket in {', '.join(ctx.decision.departments)}")
    ctx.note(NAME, f"dry run: {ctx.reason}")
