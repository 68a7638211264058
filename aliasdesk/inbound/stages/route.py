"""Stage 5: which departments a new request goes to (rules first, then aliases; CONTRACT §3)."""

from __future__ import annotations

from aliasdesk.domain.routing import MailFacts, RouteDecision, route
from aliasdesk.inbound.context import InboundContext
from aliasdesk.mail.model import ParsedMail

NAME = "route"


def facts_of(mail: ParsedMail) -> MailFacts:
    return MailFacts(
        to=tuple(a.address for a in mail.to),
        cc=tuple(a.address for a in mail.cc),
        delivered_to=tuple(a.address for a in mail.delivered_to),
        x_original_to=tuple(a.address for a in mail.x_original_to),
        from_address=mail.from_.address if mail.from_ else None,
        subject=mail.subject,
        body=mail.text,
        headers=mail.headers,
    )


def run(ctx: InboundContext) -> None:
    if ctx.thread is not None and ctx.thread.ticket_id is not None:
        if not ctx.thread.closed:
            ctx.note(NAME, f"not routed: the mail belongs to {ctx.thread.ref}")
            return
        department = (ctx.thread.ref or "").split("-")[0]
        ctx.decision = RouteDecision(
            action="ticket",
            departments=(department,),
            priority=None,
            rule=None,
            reason=f"reply to closed ticket {ctx.thread.ref}: a new ticket in {department}",
            trace=(),
        )
        ctx.note(NAME, ctx.decision.reason)
        return
    decision = route(facts_of(ctx.mail), ctx.config)
    ctx.decision = decision
    for line in decision.trace:
        ctx.note(NAME, line)
    if decision.action == "ignore":
        ctx.finish("ignored", decision.reason)
    elif decision.action == "quarantine":
        ctx.finish("quarantined", decision.reason)
