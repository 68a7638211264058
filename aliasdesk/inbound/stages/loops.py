"""Stage 3: machine mail and loops (RFC 3834, CONTRACT §5).

Auto-replies, bounces, reports, bulk mail, our own aliases and our own loop marker open no
ticket and get no answer. A bounce of a mail we sent is recorded on that mail's ticket.
Human mail without a sender address is quarantined here, after the machine check.
"""

from __future__ import annotations

from sqlalchemy import select

from aliasdesk.db.models import Delivery
from aliasdesk.inbound.context import InboundContext
from aliasdesk.inbound.stages.parse import NO_SENDER, has_sender_address
from aliasdesk.mail.machine import machine_verdict

NAME = "loops"
LOOP_HEADER = "x-aliasdesk-loop"


def run(ctx: InboundContext) -> None:
    verdict = machine_verdict(
        ctx.mail,
        own_addresses=ctx.config.all_aliases(),
        loop_marker_header=LOOP_HEADER,
        loop_marker_value=None,
    )
    ctx.verdict = verdict
    if verdict.kind is None:
        ctx.note(NAME, "written by a person (no machine-mail signal)")
        if not has_sender_address(ctx.mail):
            # Checked only now, so a bounce from "<>" is ignored rather than quarantined.
            ctx.finish("quarantined", NO_SENDER)
        return
    ctx.note(NAME, f"machine mail ({verdict.kind}): {verdict.reason}")
    if verdict.kind in {"bounce", "delivery-report"} and ctx.session is not None:
        ids = [mid for mid in verdict.bounced_message_ids if mid]
        if ids:
            rows = ctx.session.scalars(select(Delivery).where(Delivery.message_id.in_(ids[:50])))
            found = list(rows)
            if found:
                ctx.bounce_delivery_ids = [d.id for d in found]
                ctx.note(NAME, f"reports the failure of our mail {found[0].message_id}")
                ctx.finish("update_ticket", f"delivery report for {found[0].message_id}")
                return
    ctx.finish("ignored", f"machine-generated mail ({verdict.kind}): {verdict.reason}")
