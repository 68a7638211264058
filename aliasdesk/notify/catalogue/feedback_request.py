"""The feedback request: the requester is asked to rate the help once the ticket is
resolved."""

from __future__ import annotations

from aliasdesk.notify.catalogue.kind import DeliverySource, NotificationKind
from aliasdesk.notify.catalogue.samples import sample_ticket
from aliasdesk.notify.kinds import FeedbackRequestContext
from aliasdesk.notify.language import _


def _sample(department: str | None) -> FeedbackRequestContext:
    return FeedbackRequestContext(
        **{**sample_ticket(department), "status": "resolved"}, resolved_by="Alice"
    )


def _build(source: DeliverySource) -> FeedbackRequestContext:
    facts = source.facts
    return FeedbackRequestContext(
        **source.ticket_values(),
        resolved_by=source.actor_name(facts.get("changed_by"), facts.get("changed_by_name") or ""),
        resolved_by_recipient=facts.get("changed_by") == source.recipient,
    )


FEEDBACK_REQUEST = NotificationKind(
    name="feedback_request",
    context_type=FeedbackRequestContext,
    audience="requester",
    sample=_sample,
    build=_build,
    mentioned=lambda: _("the feedback request"),
)
