"""Retrying quarantined mail after a fix (a new routing rule, a new release)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy import delete, select

from aliasdesk.db.models import InboundMail, MessageKey
from aliasdesk.db.session import Database
from aliasdesk.domain.organisation import RoutingConfig
from aliasdesk.inbound.context import PipelineSettings
from aliasdesk.services.intake import IntakeResult, process_inbound


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
    return [process_inbound(db, inbound_id, config_source(), settings) for inbound_id in retried]
