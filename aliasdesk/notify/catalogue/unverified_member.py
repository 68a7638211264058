"""The notice to a member whose address was on mail that could not be shown to be
theirs: nothing it asked for was done (CONTRACT §5)."""

from __future__ import annotations

from aliasdesk.notify.catalogue.kind import (
    DeliverySource,
    NotificationKind,
    fact_texts,
)
from aliasdesk.notify.catalogue.samples import sample_ticket
from aliasdesk.notify.kinds import UnverifiedMemberContext


def _sample(department: str | None) -> UnverifiedMemberContext:
    return UnverifiedMemberContext(
        **{**sample_ticket(department), "status": "open", "recipient_name": "Alice"},
        their_subject="Re: [HR-42] Parental leave",
        refused=("#resolve",),
    )


def _build(source: DeliverySource) -> UnverifiedMemberContext:
    return UnverifiedMemberContext(
        **source.ticket_values(),
        their_subject=str(source.facts.get("their_subject", "")),
        refused=fact_texts(source, "refused"),
        strict=bool(source.facts.get("strict")),
    )


UNVERIFIED_MEMBER = NotificationKind(
    name="unverified_member",
    context_type=UnverifiedMemberContext,
    audience="member",
    sample=_sample,
    build=_build,
)
