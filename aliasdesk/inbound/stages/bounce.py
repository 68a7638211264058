"""Stage 4: a delivery report about mail aliasdesk sent lands on that mail's ticket.

Runs after ``loops`` has called the mail a bounce or a delivery report, and always settles
it, so a report never reaches threading, routing or an answer (CONTRACT §5: machine mail is
never answered). What the report proves is decided here:

* *confirmed*: it names the Message-ID of a delivery (in the returned mail, its
  text/rfc822-headers part or the copy under a plain-text bounce) **and** reports on the
  address that delivery went to. Message-IDs of our mail carry a random part, so only
  someone who received that mail, or a server that carried it, can name it;
* *unconfirmed*: it only points at a ticket, by a ``[KEY-N]`` tag, a reply address or a
  Message-ID we sent to somebody else. Anyone can write that; it is kept for the
  department and changes nothing else;
* nothing: logged ``ignored`` with the reason.

The stage leaves a :class:`RecordReport` decision; the filing service has
aliasdesk.services.bounces write it.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from aliasdesk.db.models import Delivery, Ticket
from aliasdesk.domain.refs import refs_in_subject
from aliasdesk.inbound.context import InboundContext
from aliasdesk.inbound.decisions import BounceMatch, ConfirmedFailure, RecordReport
from aliasdesk.inbound.stages.loops import REPORT_KINDS
from aliasdesk.mail.delivery_report import DeliveryReport, read_delivery_report

NAME = "bounce"
MAX_TICKET_NUMBER = 2**31 - 1


def run(ctx: InboundContext) -> None:
    if ctx.verdict is None or ctx.verdict.kind not in REPORT_KINDS:
        return
    report = read_delivery_report(ctx.mail)
    _describe(ctx, report)
    if ctx.session is None:
        ctx.finish("ignored", "delivery report: not matched (no database)")
        return
    match = find_match(ctx, report)
    if match.is_empty:
        ctx.finish("ignored", f"delivery report about no mail aliasdesk sent ({match.how})")
        return
    ctx.note(NAME, f"matched: {match.how}")
    if ctx.dry_run:
        ctx.ticket_refs = _refs(ctx, match)
        outcome = "update_ticket" if ctx.ticket_refs else "ignored"
        ctx.finish(outcome, f"delivery report would be recorded ({match.how})")
        return
    # Settled here so no later stage takes the report for a request; the filing service
    # writes it and states the final outcome.
    ctx.finish("update_ticket", f"delivery report to record ({match.how})")
    ctx.filing = RecordReport(report, match, ctx.now or datetime.now(UTC))


def _describe(ctx: InboundContext, report: DeliveryReport) -> None:
    said = "; ".join(f"{s.recipient} {s.summary}" for s in report.recipients[:5])
    ctx.note(NAME, f"{report.shape} report: {said or 'names no recipient'}")


def find_match(ctx: InboundContext, report: DeliveryReport) -> BounceMatch:
    """Confirmed deliveries first; only without one, the tickets the report points at."""
    assert ctx.session is not None
    confirmed: list[ConfirmedFailure] = []
    elsewhere: list[int] = []
    for delivery in _deliveries_named(ctx, report):
        status = report.about(delivery.recipient)
        if status is not None:
            confirmed.append(ConfirmedFailure(delivery.id, status))
        elif delivery.ticket_id is not None:
            elsewhere.append(delivery.ticket_id)
    if confirmed:
        return BounceMatch(tuple(confirmed), (), "names our mail and the address it went to")
    if elsewhere:
        how = "names our mail, but not the address it went to"
        return BounceMatch((), tuple(dict.fromkeys(elsewhere)), how)
    pointed = _ticket_by_tag(ctx, report) or _ticket_by_reply_address(ctx)
    if pointed is not None:
        return BounceMatch((), (pointed[0],), pointed[1])
    ids = len(report.original_message_ids)
    return BounceMatch((), (), f"{ids} Message-ID(s) in it, none of them ours")


def _refs(ctx: InboundContext, match: BounceMatch) -> list[str]:
    """The tickets a dry run (``rules explain``) would record the report on."""
    assert ctx.session is not None
    delivered = select(Delivery.ticket_id).where(
        Delivery.id.in_([failure.delivery_id for failure in match.confirmed])
    )
    tickets = ctx.session.scalars(
        select(Ticket)
        .where(Ticket.id.in_(delivered) | Ticket.id.in_(match.unconfirmed_ticket_ids))
        .order_by(Ticket.id)
    )
    return [ticket.ref for ticket in tickets]


def _deliveries_named(ctx: InboundContext, report: DeliveryReport) -> list[Delivery]:
    assert ctx.session is not None
    ids = list(report.original_message_ids[:50])
    if not ids:
        return []
    found = ctx.session.scalars(
        select(Delivery).where(Delivery.message_id.in_(ids)).order_by(Delivery.id)
    )
    return list(found)


def _ticket_by_tag(ctx: InboundContext, report: DeliveryReport) -> tuple[int, str] | None:
    """A ``[KEY-N]`` in the report's subject or the returned mail's Subject line."""
    assert ctx.session is not None
    for subject in report.subjects:
        for ref in refs_in_subject(subject)[:5]:
            if ref.number > MAX_TICKET_NUMBER:
                continue  # no such ticket, and PostgreSQL would refuse the comparison
            ticket_id = ctx.session.scalar(
                select(Ticket.id).where(
                    Ticket.department == ref.department, Ticket.number == ref.number
                )
            )
            if ticket_id is not None:
                return ticket_id, f"points at {ref.tag} by its subject"
    return None


def _ticket_by_reply_address(ctx: InboundContext) -> tuple[int, str] | None:
    """A report sent back to a ticket's reply address (``alias+TOKEN@domain``)."""
    assert ctx.session is not None
    for address in ctx.mail.recipients()[:20]:
        local, _, domain = address.address.partition("@")
        base, plus, token = local.partition("+")
        if not plus or ctx.config.department_for_alias(f"{base}@{domain}") is None:
            continue
        ticket_id = ctx.session.scalar(select(Ticket.id).where(Ticket.reply_token == token))
        if ticket_id is not None:
            return ticket_id, f"sent to the reply address {address.address}"
    return None
