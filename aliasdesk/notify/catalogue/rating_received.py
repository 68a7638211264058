"""The owner hears each rating the requester gives, with the comment: the one piece of
feedback on their work that would otherwise only be seen in reports."""

from __future__ import annotations

from aliasdesk.notify.catalogue.kind import NotificationKind
from aliasdesk.notify.catalogue.rating_facts import RatingContext, rating_facts
from aliasdesk.notify.catalogue.samples import sample_ticket_to_owner


def _sample(department: str | None) -> RatingContext:
    values = sample_ticket_to_owner(department, status="resolved")
    return RatingContext(**values, rating=4, comment="Quick and friendly, thanks!")


RATING_RECEIVED = NotificationKind(
    name="rating_received",
    context_type=RatingContext,
    audience="member",
    sample=_sample,
    build=lambda source: RatingContext(**rating_facts(source)),
    label="rating notice",
)
