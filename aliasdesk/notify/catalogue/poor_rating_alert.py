"""A rating of 1 or 2 reaches the department's leads with the conversation, so someone
can follow up with the requester and see what went wrong. It says what happened, not who
is to blame: the mail does not single out the owner."""

from __future__ import annotations

from datetime import timedelta

from aliasdesk.notify.catalogue.kind import DeliverySource, NotificationKind
from aliasdesk.notify.catalogue.rating_facts import (
    ConversationEntry,
    PoorRatingContext,
    conversation_of,
    rating_facts,
)
from aliasdesk.notify.catalogue.samples import SAMPLE_CREATED, sample_ticket_to_owner


def _sample(department: str | None) -> PoorRatingContext:
    values = sample_ticket_to_owner(
        department, status="resolved", recipient="hanna@example.com", recipient_name="Hanna"
    )
    conversation = (
        ConversationEntry(SAMPLE_CREATED, "Dave Miller", values["ticket_text"]),
        ConversationEntry(
            SAMPLE_CREATED + timedelta(days=6), "Alice", "Form PL-2 is on the intranet."
        ),
    )
    return PoorRatingContext(
        **values,
        rating=1,
        comment="It took a week and I had to ask twice.",
        conversation=conversation,
    )


def _build(source: DeliverySource) -> PoorRatingContext:
    return PoorRatingContext(
        **rating_facts(source),
        conversation=conversation_of(source),
        left_out=int(source.facts.get("left_out") or 0),
    )


POOR_RATING_ALERT = NotificationKind(
    name="poor_rating_alert",
    context_type=PoorRatingContext,
    audience="member",
    sample=_sample,
    build=_build,
    label="poor rating alert",
)
