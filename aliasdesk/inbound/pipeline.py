"""The inbound pipeline: an ordered tuple of small stages (see STYLE.md, the crash story).

``run_pipeline`` never commits; callers run it inside one unit of work so the ticket, the
trace, the dedupe key and the outbox jobs become durable together or not at all.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

from aliasdesk.inbound.context import InboundContext
from aliasdesk.inbound.stages import bounce, dedupe, loops, parse, persist, route, thread

STAGES: tuple[ModuleType, ...] = (parse, dedupe, loops, bounce, thread, route, persist)


def run_pipeline(ctx: InboundContext) -> InboundContext:
    """Run every stage in order; a stage that settles the outcome ends the run."""
    for stage in STAGES:
        if ctx.done:
            break
        runner: Callable[[InboundContext], None] = stage.run
        runner(ctx)
    if not ctx.done:
        ctx.finish("quarantined", "no stage decided what to do with this mail")
    return ctx
