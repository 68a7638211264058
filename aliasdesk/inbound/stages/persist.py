"""Stage 6: write the ticket or the update, and the outbox jobs, in the caller's transaction.

A reply to a closed ticket from its requester is either a rating or a new request (a new
ticket that links the closed one); a verified department member's mail to a closed ticket
is still an answer on it; anyone else's opens a new ticket under their own subject (the
link is for the department to see, never named to them). A request a verified member
forwarded is opened for the person who wrote it; any other forward is the forwarder's own.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime

from aliasdesk.db.models import Ticket, Watcher
from aliasdesk.db.unit_of_work import work_of
from aliasdesk.domain.sla_clock import history_moment
from aliasdesk.inbound.context import InboundContext
from aliasdesk.mail.forward import find_forwarded, without_forward_prefix
from aliasdesk.services.conversation import apply_reply, try_record_feedback
from aliasdesk.services.tickets import (
    NewTicket,
    Requester,
    add_first_event,
    add_first_message,
    link_both_ways,
    link_tickets,
    open_ticket,
)
from aliasdesk.services.verification import check_sender

NAME = "persist"
NO_SUBJECT = "(no subject)"


def run(ctx: InboundContext) -> None:
    if ctx.session is None or ctx.dry_run:
        _describe_dry_run(ctx)
        return
    now = ctx.now or datetime.now(UTC)
    if not ctx.settings.send_mail:  # imported history keeps the dates it was written on
        now = history_moment(ctx.mail.date, now)
    if ctx.done:
        return
    if ctx.thread is not None and ctx.thread.ticket_id is not None:
        ticket = ctx.session.get(Ticket, ctx.thread.ticket_id)
        assert ticket is not None
        sender = ctx.mail.from_.address if ctx.mail.from_ else ""
        verified = _verified_member(ctx, ticket, sender)
        if not ctx.thread.closed or verified:
            _reply(ctx, ticket, now, verified)
            return
        if try_record_feedback(ctx.session, ticket, ctx.mail, ctx.inbound_id, now):
            _settle(ctx, [ticket], "update_ticket", f"feedback {ticket.rating}/5 on {ticket.ref}")
            return
    _open(ctx, now)


def _verified_member(ctx: InboundContext, ticket: Ticket, sender: str) -> bool:
    """Whether the mail is from a member of the ticket's department and shown to be theirs."""
    if not ctx.config.is_member(sender, ticket.department):
        return False
    check = check_sender(
        ctx.session,
        ctx.mail,
        sender,
        ticket_id=ticket.id,
        authserv_id=ctx.settings.authserv_id,
        require_auth_results=ctx.settings.require_authentication_results,
    )
    verdict = "verified" if check.verified else "NOT verified, handled as an outsider's mail"
    ctx.note(NAME, f"{sender} is a member of {ticket.department}: {verdict} ({check.how})")
    return check.verified


def _reply(ctx: InboundContext, ticket: Ticket, now: datetime, verified: bool) -> None:
    assert ctx.session is not None
    result = apply_reply(
        ctx.session,
        ticket,
        ctx.mail,
        config=ctx.config,
        inbound_id=ctx.inbound_id,
        now=now,
        verified=verified,
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
        subject = " ".join(without_forward_prefix(subject).split())
        if not subject:  # only its own people may see the closed ticket's subject
            subject = closed.subject if _belongs_to(ctx, closed, sender) else NO_SUBJECT
        name = mail.from_.name if mail.from_ else ""
        return Requester(sender, name, subject=subject), mail.text, ""
    if not _verified_forwarder(ctx, sender):
        return None, mail.text, ""  # only verified staff pass requests on
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


def _belongs_to(ctx: InboundContext, ticket: Ticket, sender: str) -> bool:
    """The ticket's requester or one of its watchers."""
    assert ctx.session is not None
    return sender == ticket.requester or (ctx.session.get(Watcher, (ticket.id, sender)) is not None)


def _verified_forwarder(ctx: InboundContext, sender: str) -> bool:
    """A forward opens a ticket for the forwarded sender only from a verified member:
    anyone else could name a victim in a forged forward and have an alias mail them."""
    if not ctx.config.departments_of_member(sender):
        return False
    check = check_sender(
        ctx.session,
        ctx.mail,
        sender,
        ticket_id=None,
        authserv_id=ctx.settings.authserv_id,
        require_auth_results=True,  # a forward answers none of our mail: only DMARC counts
    )
    if not check.verified:
        ctx.note(NAME, f"{sender} is a member but not verified ({check.how}): not a forward")
    return check.verified


def _forwarders_note(
    ctx: InboundContext, ticket: NewTicket, forwarder: str, note: str, now: datetime
) -> None:
    """What the colleague wrote above the forward is for the team, not for the requester."""
    assert ctx.session is not None
    buffer = work_of(ctx.session).rows
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
