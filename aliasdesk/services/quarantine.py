"""Retrying quarantined mail after a fix (a new routing rule, a new release).

The retried mail goes through the intake's one path, in batches like fresh mail (at most
BATCH mails and ``max_mail_bytes`` of them at a time), so a mail that fails again is
quarantined alone with its traceback, as it would be on arrival.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy import delete, select

from aliasdesk.db.models import InboundMail, MessageKey
from aliasdesk.db.session import Database
from aliasdesk.domain.organisation import RoutingConfig
from aliasdesk.inbound.context import PipelineSettings
from aliasdesk.services.intake import BATCH, IntakeResult, process_batch
from aliasdesk.services.intake_store import cut_batches


def retry(
    db: Database,
    ids: Sequence[int] | None,
    config_source: Callable[[], RoutingConfig],
    settings: PipelineSettings,
) -> list[IntakeResult]:
    """Put quarantined mail (the given ids, or all when None) through the pipeline again."""
    with db.unit_of_work() as session:
        query = select(InboundMail).where(InboundMail.state == "quarantined")
        if ids is not None:
            query = query.where(InboundMail.id.in_(list(ids)))
        rows = list(session.scalars(query.order_by(InboundMail.id)))
        for row in rows:
            session.execute(delete(MessageKey).where(MessageKey.inbound_id == row.id))
            row.state, row.outcome, row.error = "received", None, None
            row.dismissed_at = None  # quarantined again after a retry: counted again
        retried = [row.id for row in rows]
        sizes = [row.size for row in rows]
    results: list[IntakeResult] = []
    for batch in cut_batches(sizes, count=BATCH, budget=settings.max_mail_bytes):
        results.extend(process_batch(db, retried[batch], config_source(), settings))
    return sorted(results, key=lambda result: result.inbound_id)
