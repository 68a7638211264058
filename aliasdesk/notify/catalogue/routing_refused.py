"""The admins' alert that an edited routing file was refused on reload (the previous
rules stay in force, so nothing else would tell them)."""

from __future__ import annotations

from aliasdesk.notify.catalogue.kind import (
    DeliverySource,
    NotificationKind,
    fact_moment,
    fact_texts,
)
from aliasdesk.notify.catalogue.samples import SAMPLE_CREATED
from aliasdesk.notify.kinds import RoutingRefusedContext


def _sample(department: str | None) -> RoutingRefusedContext:
    return RoutingRefusedContext(
        path="config/routing.yaml",
        problems=("config/routing.yaml:31: departments.IT.assignment: must be one of ...",),
        refused_at=SAMPLE_CREATED,
    )


def _build(source: DeliverySource) -> RoutingRefusedContext:
    return RoutingRefusedContext(
        path=str(source.facts.get("path", "")),
        problems=fact_texts(source, "problems"),
        refused_at=fact_moment(source.facts.get("refused_at")),
    )


ROUTING_REFUSED = NotificationKind(
    name="routing_refused",
    context_type=RoutingRefusedContext,
    audience="admin",
    sample=_sample,
    build=_build,
)
