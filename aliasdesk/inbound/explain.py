"""``rules explain``: the pipeline run as a dry run, changing nothing, with its trace."""

from __future__ import annotations

import json
from typing import Any

from aliasdesk.db.models import InboundMail
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


def explain(
    raw: bytes,
    config: RoutingConfig,
    db: Database | None,
    settings: PipelineSettings | None = None,
) -> dict[str, Any]:
    """What would happen to ``raw`` and why; reads the database (threading, dedupe) only.
    ``settings``: the live pipeline's (``PipelineSettings.from_settings``), so the answer
    is the one ``run`` would give; the defaults when None."""
    settings = settings or PipelineSettings()
    earlier: InboundMail | None = None
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
            if ctx.duplicate_of is not None:
                earlier = session.get(InboundMail, ctx.duplicate_of)
    result = _answer(ctx)
    if earlier is not None:
        _as_duplicate(result, earlier)
    return result


def _answer(ctx: InboundContext) -> dict[str, Any]:
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
        "duplicate_of": None,
        "trace": list(ctx.trace),
    }


def _as_duplicate(result: dict[str, Any], earlier: InboundMail) -> None:
    """Fetched again, the mail would only be logged as a duplicate: that is the action.
    The routing keys still say how today's rules route it, and the reason what became
    of it the first time."""
    refs: list[str] = json.loads(earlier.ticket_refs or "[]")
    first = f"{earlier.outcome or 'waiting'}{' ' + ', '.join(refs) if refs else ''}"
    result["reason"] = (
        f"already taken in as mail #{earlier.id} ({first}): a new copy is logged as a "
        f"duplicate and changes nothing; if it were new: {result['action']}, {result['reason']}"
    )
    result["action"] = "ignore"
    result["duplicate_of"] = earlier.id
    result["ticket"] = refs[0] if refs else result["ticket"]
