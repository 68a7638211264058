"""The inbound pipeline: an ordered tuple of small stages (see STYLE.md, the crash story).

``run_pipeline`` never commits; callers run it inside one unit of work so the ticket, the
trace, the dedupe key and the outbox jobs become durable together or not at all. A mail
that goes on a ticket comes out with the persist stage's decision in ``ctx.filing``, which
the caller carries out (aliasdesk.services.filing) in that same unit of work.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

from aliasdesk.inbound.context import InboundContext
from aliasdesk.inbound.stages import bounce, dedupe, loops, parse, persist, route, thread

STAGES: tuple[ModuleType, ...] = (parse, dedupe, loops, bounce, thread, route, persist)


def run_pipeline(ctx: InboundContext) -> InboundContext:
    """Run every stage in order; a stage that settles the outcome ends the run, and so
    does the persist stage's decision (left in ``ctx.filing`` for the caller)."""
    for stage in STAGES:
        if ctx.done or ctx.filing is not None:
            break
        runner: Callable[[InboundContext], None] = stage.run
        runner(ctx)
    if not ctx.done and ctx.filing is None:
        ctx.finish("quarantined", "no stage decided what to do with this mail")
    return ctx
