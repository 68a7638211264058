"""A short thank-you to the requester for rating the help: their answer was received,
and nothing more is asked of them."""

from __future__ import annotations

from aliasdesk.notify.catalogue.kind import NotificationKind
from aliasdesk.notify.catalogue.rating_facts import RatingContext, rating_facts
from aliasdesk.notify.catalogue.samples import sample_ticket


def _sample(department: str | None) -> RatingContext:
    return RatingContext(**{**sample_ticket(department), "status": "resolved"}, rating=5)


RATING_THANKS = NotificationKind(
    name="rating_thanks",
    context_type=RatingContext,
    audience="requester",
    sample=_sample,
    build=lambda source: RatingContext(**rating_facts(source)),
    label="thank-you for a rating",
)
