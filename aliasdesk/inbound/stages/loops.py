"""Stage 3: machine mail and loops (RFC 3834, CONTRACT §5).

Auto-replies, bounces, reports, bulk mail, our own aliases and our own loop marker open no
ticket and get no answer; delivery reports go on to the bounce stage, which settles them.
Human mail without a sender address is quarantined here, after the machine check.
"""

from __future__ import annotations

from aliasdesk.inbound.context import InboundContext
from aliasdesk.inbound.stages.parse import NO_SENDER, has_sender_address
from aliasdesk.mail.machine import machine_verdict

NAME = "loops"
LOOP_HEADER = "x-aliasdesk-loop"
REPORT_KINDS = frozenset({"bounce", "delivery-report"})
"""Left unsettled here: the bounce stage records them or ignores them, never answers."""


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
    if verdict.kind in REPORT_KINDS:
        return  # the bounce stage settles it: recorded on its ticket, or ignored
    ctx.finish("ignored", f"machine-generated mail ({verdict.kind}): {verdict.reason}")
