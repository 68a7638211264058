"""Stage 6: decide where the mail goes; the filing service (aliasdesk.services.filing)
writes it, in the caller's transaction, once the pipeline has run.

A reply to a closed ticket from its requester is either a rating or a new request (a new
ticket that links the closed one); a verified department member's mail to a closed ticket
is still an answer on it; anyone else's opens a new ticket under their own subject (the
link is for the department to see, never named to them). A request a verified member
forwarded is opened for the person who wrote it; any other forward is the forwarder's own.

The stage only reads (the thread's ticket, who the sender is); its decision
(aliasdesk.domain.filing) is left on the context as ``filing``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from aliasdesk.db.models import Ticket, Watcher
from aliasdesk.domain.filing import NO_SUBJECT, AddToTicket, Filing, OpenTickets, Requester
from aliasdesk.domain.sla_clock import history_moment
from aliasdesk.inbound.context import InboundContext
from aliasdesk.inbound.verification import SenderCheck, check_sender
from aliasdesk.mail.forward import find_forwarded, without_forward_prefix

NAME = "persist"


def run(ctx: InboundContext) -> None:
    if ctx.session is None or ctx.dry_run:
        _describe_dry_run(ctx)
        return
    now = ctx.now or datetime.now(UTC)
    if not ctx.settings.send_mail:  # imported history keeps the dates it was written on
        now = history_moment(ctx.mail.date, now)
    if ctx.done:
        return
    ctx.filing = decide(ctx, now)


def decide(ctx: InboundContext, now: datetime) -> Filing:
    """Where the mail goes: onto the ticket it answers, or into new tickets."""
    assert ctx.session is not None
    if ctx.thread is not None and ctx.thread.ticket_id is not None:
        ticket = ctx.session.get(Ticket, ctx.thread.ticket_id)
        assert ticket is not None
        sender = ctx.mail.from_.address if ctx.mail.from_ else ""
        verified = _verified_member(ctx, ticket, sender)
        if not ctx.thread.closed or verified:
            requester = not verified and _verified_requester(ctx, ticket, sender)
            return AddToTicket(ticket.id, verified, now, requester_verified=requester)
    return _opening(ctx, now)


def _verified_member(ctx: InboundContext, ticket: Ticket, sender: str) -> bool:
    """Whether the mail is from a member of the ticket's department and shown to be theirs."""
    if not ctx.config.is_member(sender, ticket.department):
        return False
    check = _check(ctx, ticket, sender, ctx.settings.require_authentication_results)
    verdict = "verified" if check.verified else "NOT verified, handled as an outsider's mail"
    ctx.note(NAME, f"{sender} is a member of {ticket.department}: {verdict} ({check.how})")
    return check.verified


def _verified_requester(ctx: InboundContext, ticket: Ticket, sender: str) -> bool:
    """Whether the mail is from the ticket's requester and shown to be theirs, by the same
    evidence as a member's (our receiving server's dmarc=pass, or an answer to a mail we
    sent them). It only decides whether their ``#resolve`` is carried out."""
    if not sender or sender != ticket.requester:
        return False
    check = _check(ctx, ticket, sender, False)
    verdict = "verified" if check.verified else "not verified"
    ctx.note(NAME, f"{sender} is the requester: {verdict} ({check.how})")
    return check.verified


def _check(
    ctx: InboundContext, ticket: Ticket, sender: str, require_auth_results: bool
) -> SenderCheck:
    return check_sender(
        ctx.session,
        ctx.mail,
        sender,
        ticket_id=ticket.id,
        authserv_id=ctx.settings.authserv_id,
        require_auth_results=require_auth_results,
    )


def _opening(ctx: InboundContext, now: datetime) -> OpenTickets:
    """New tickets where routing sent the mail, for the mail's sender or the forwarded one."""
    assert ctx.decision is not None
    closed = _closed_ticket(ctx)
    requester, text, note = _requester(ctx, closed)
    return OpenTickets(
        departments=tuple(ctx.decision.departments),
        priority=ctx.decision.priority,
        reason=ctx.decision.reason,
        text=text,
        requester=requester,
        forwarders_note=note,
        replaces=closed.id if closed is not None else None,
        at=now,
    )


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


def _describe_dry_run(ctx: InboundContext) -> None:
    if ctx.done:
        return
    if ctx.thread is not None and not ctx.thread.closed:
        _note_sender(ctx)
        ctx.finish("update_ticket", f"would be added to {ctx.thread.ref}")
        ctx.ticket_refs = [ctx.thread.ref or ""]
    elif ctx.decision is not None:
        ctx.finish("new_ticket", f"would open a ticket in {', '.join(ctx.decision.departments)}")
    ctx.note(NAME, f"dry run: {ctx.reason}")


def _note_sender(ctx: InboundContext) -> None:
    """``rules explain`` on a reply: whether its sender would be believed, as a member or
    as the requester. The live run decides by the same checks (and the same settings)
    whether the reply's commands are carried out, so an admin asking why a member's
    ``#resolve`` changed nothing finds the answer here. Reads only."""
    if ctx.session is None or ctx.thread is None or ctx.thread.ticket_id is None:
        return
    ticket = ctx.session.get(Ticket, ctx.thread.ticket_id)
    if ticket is None:
        return
    sender = ctx.mail.from_.address if ctx.mail.from_ else ""
    if not _verified_member(ctx, ticket, sender):
        _verified_requester(ctx, ticket, sender)
