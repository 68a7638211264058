"""Carrying out what the persist and bounce stages decided for a mail
(aliasdesk.inbound.decisions): a delivery report recorded, the
reply added to its ticket, or the new tickets opened, in the caller's transaction.

The stages only read; every row a mail writes is written from here, so the pipeline can
run without a database (``aliasdesk explain``) and a decision can be tested on its own.
The notes go to the mail's trace under the deciding stage's name.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from aliasdesk.db.models import Ticket
from aliasdesk.domain.filing import AddToTicket, OpenTickets
from aliasdesk.inbound.context import InboundContext
from aliasdesk.inbound.decisions import Decision, RecordReport
from aliasdesk.services.bounces import record_report
from aliasdesk.services.conversation import apply_reply
from aliasdesk.services.feedback import try_record_feedback
from aliasdesk.services.tickets import (
    NewTicket,
    add_event,
    add_message,
    link_tickets,
    open_ticket,
)

__all__ = ["file_mail"]

STAGE = "persist"


def file_mail(ctx: InboundContext, filing: Decision) -> None:
    """Write what ``filing`` says and settle the mail's outcome on ``ctx``."""
    if isinstance(filing, RecordReport):
        _record_report(ctx, filing)
        return
    if isinstance(filing, AddToTicket):
        _reply(ctx, _ticket(ctx, filing.ticket_id), filing)
        return
    if filing.replaces is not None:
        closed = _ticket(ctx, filing.replaces)
        assert ctx.session is not None
        session, at = ctx.session, filing.at
        if try_record_feedback(
            session, closed, ctx.mail, config=ctx.config, inbound_id=ctx.inbound_id, now=at
        ):
            _settle(ctx, [closed], "update_ticket", f"feedback {closed.rating}/5 on {closed.ref}")
            return
    _open(ctx, filing)


def _record_report(ctx: InboundContext, filing: RecordReport) -> None:
    """A delivery report about our mail, onto the tickets (and deliveries) it proves."""
    assert ctx.session is not None
    how = filing.match.how
    refs = record_report(
        ctx.session,
        ctx.config,
        filing.report,
        filing.match,
        mail=ctx.mail,
        inbound_id=ctx.inbound_id,
        now=filing.at,
    )
    ctx.ticket_refs = refs
    if not refs:  # an admin's alert came back: its delivery says so, no ticket to tell
        reason = f"delivery report about mail on no ticket, recorded on its delivery ({how})"
        ctx.finish("ignored", reason)
        return
    ctx.finish("update_ticket", f"delivery report recorded on {', '.join(refs)} ({how})")


def _ticket(ctx: InboundContext, ticket_id: int) -> Ticket:
    """The ticket the stage looked at (still in the session: no second query)."""
    assert ctx.session is not None
    ticket = ctx.session.get(Ticket, ticket_id)
    assert ticket is not None
    return ticket


def _reply(ctx: InboundContext, ticket: Ticket, filing: AddToTicket) -> None:
    assert ctx.session is not None
    result = apply_reply(
        ctx.session,
        ticket,
        ctx.mail,
        config=ctx.config,
        inbound_id=ctx.inbound_id,
        now=filing.at,
        verified=filing.verified,
        requester_verified=filing.requester_verified,
        require_authentication=ctx.settings.require_authentication_results,
        snippet_dir=ctx.settings.snippet_dir,
        template_dir=ctx.settings.template_dir,
    )
    for line in result.applied:
        ctx.note(STAGE, f"applied {line}")
    for line in result.refused:
        ctx.note(STAGE, f"refused {line}")
    _settle(ctx, [ticket], "update_ticket", result.reason)


def _open(ctx: InboundContext, filing: OpenTickets) -> None:
    assert ctx.session is not None
    requester = filing.requester
    tickets: list[NewTicket] = []
    for department in filing.departments:
        if department not in ctx.config.departments:
            ctx.finish("quarantined", f"department {department} is not in the routing file")
            return
        ticket = open_ticket(
            ctx.session,
            department=department,
            mail=ctx.mail,
            text=filing.text,
            priority=filing.priority,
            config=ctx.config,
            inbound_id=ctx.inbound_id,
            now=filing.at,
            send_mail=ctx.settings.send_mail,
            requester=requester,
        )
        if filing.forwarders_note and requester is not None and requester.opened_by:
            _forwarders_note(ctx, ticket, requester.opened_by, filing.forwarders_note, filing.at)
        tickets.append(ticket)
    link_tickets(ctx.session, tickets, replaces=filing.replaces)
    refs = ", ".join(t.ref for t in tickets)
    _settle(ctx, tickets, "new_ticket", f"new ticket {refs}: {filing.reason}")


def _forwarders_note(
    ctx: InboundContext, ticket: NewTicket, forwarder: str, note: str, now: datetime
) -> None:
    """What the colleague wrote above the forward is for the team, not for the requester."""
    assert ctx.session is not None
    add_message(
        ctx.session,
        ticket,
        ctx.mail,
        text=note,
        internal=True,
        inbound_id=ctx.inbound_id,
        now=now,
        with_attachments=False,
    )
    add_event(
        ctx.session, ticket, "note", forwarder, "note from the colleague who forwarded it", now
    )


def _settle(
    ctx: InboundContext, tickets: Sequence[Ticket | NewTicket], outcome: str, reason: str
) -> None:
    ctx.ticket_refs = [t.ref for t in tickets]
    ctx.finish(outcome, reason)
    ctx.note(STAGE, reason)
