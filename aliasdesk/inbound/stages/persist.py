"""Stage 6: write the ticket or the update, and the outbox jobs, in the caller's transaction."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from aliasdesk.db.models import Delivery, Ticket, TicketLink
from aliasdesk.inbound.context import InboundContext
from aliasdesk.services.conversation import apply_reply, try_record_feedback
from aliasdesk.services.tickets import add_event, add_message, link_tickets, open_ticket

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
        if not ctx.thread.closed:
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
    tickets: list[Ticket] = []
    for department in ctx.decision.departments:
        if department not in ctx.config.departments:
            ctx.finish("quarantined", f"department {department} is not in the routing file")
            return
        ticket = open_ticket(
            ctx.session,
            department=department,
            mail=ctx.mail,
            text=ctx.mail.text,
            priority=ctx.decision.priority,
            config=ctx.config,
            inbound_id=ctx.inbound_id,
            now=now,
            send_mail=ctx.settings.send_mail,
        )
        tickets.append(ticket)
    link_tickets(ctx.session, tickets)
    if ctx.thread is not None and ctx.thread.closed and ctx.thread.ticket_id is not None:
        for ticket in tickets:
            ctx.session.add(TicketLink(ticket_id=ticket.id, linked_id=ctx.thread.ticket_id))
            ctx.session.add(TicketLink(ticket_id=ctx.thread.ticket_id, linked_id=ticket.id))
    refs = ", ".join(t.ref for t in tickets)
    _settle(ctx, tickets, "new_ticket", f"new ticket {refs}: {ctx.decision.reason}")


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
    ctx.ticket_ids = [t.id for t in tickets]


def _settle(ctx: InboundContext, tickets: list[Ticket], outcome: str, reason: str) -> None:
    ctx.ticket_refs = [t.ref for t in tickets]
    ctx.ticket_ids = [t.id for t in tickets]
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
