"""``rules explain``: the pipeline run as a dry run, changing nothing, with its trace."""

from __future__ import annotations

from typing import Any

from aliasdesk.db.session import Database
from aliasdesk.domain.organisation import RoutingConfig
from aliasdesk.inbound.context import InboundContext, PipelineSettings
from aliasdesk.inbound.pipeline import run_pipeline

ACTIONS = {
    "new_ticket": "new_ticket",
    "update_ticket": "update_ticket",
    "ignored": "ignore",
    "duplicate": "ignore",
    "quarantined": "quarantine",
}


def explain(raw: bytes, config: RoutingConfig, db: Database | None) -> dict[str, Any]:
    """What would happen to ``raw`` and why; reads the database (threading, dedupe) only."""
    settings = PipelineSettings()
    if db is None:
        ctx = run_pipeline(
            InboundContext(raw=raw, config=config, settings=settings, session=None, dry_run=True)
        )
    else:
        with db.reader() as session:
            ctx = run_pipeline(
                InboundContext(
                    raw=raw, config=config, settings=settings, session=session, dry_run=True
                )
            )
    decision = ctx.decision
    departments = list(decision.departments) if decision else []
    if ctx.thread is not None and ctx.thread.ref and not ctx.thread.closed:
        departments = [ctx.thread.ref.split("-")[0]]
    return {
        "action": ACTIONS.get(ctx.outcome or "quarantined", "quarantine"),
        "department": departments[0] if departments else None,
        "departments": departments,
        "priority": (decision.priority or "normal") if decision and departments else None,
        "ticket": ctx.ticket_refs[0]
        if ctx.ticket_refs
        else (ctx.thread.ref if ctx.thread and not ctx.thread.closed else None),
        "rule": decision.rule if decision else None,
        "reason": ctx.reason,
        "trace": list(ctx.trace),
    }
