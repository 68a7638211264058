"""What the three mails a requester's rating causes are built from (the kinds themselves
are ``rating_received``, ``rating_thanks`` and ``poor_rating_alert``): the rating and its
comment, and for the leads the public conversation of the ticket."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aliasdesk.notify.catalogue.kind import DeliverySource, fact_moment, fact_text
from aliasdesk.notify.kinds import TicketMailContext
from aliasdesk.notify.text import trim_text
from aliasdesk.notify.wording import RatingLevel

POOR_RATING = 2
"""Ratings at or below this reach the leads."""


@dataclass(frozen=True, kw_only=True)
class RatingContext(TicketMailContext):
    """A rating the requester gave, and what they wrote with it (may be empty)."""

    rating: int
    comment: str = ""

    @property
    def rating_meaning(self) -> str:
        """In the language of the mail, so read when rendering, not at import."""
        return RatingLevel(self.rating).meaning if 1 <= self.rating <= 5 else ""

    @property
    def rating_text(self) -> str:
        """The rating as people read it, e.g. 4/5 (good); plain text in every client."""
        return f"{self.rating}/5 ({self.rating_meaning})"


@dataclass(frozen=True, slots=True)
class ConversationEntry:
    """One public mail of the ticket as the leads read it."""

    at: datetime
    author: str
    text: str


@dataclass(frozen=True, kw_only=True)
class PoorRatingContext(RatingContext):
    """Sent to the leads: the rating, the comment and the public conversation."""

    conversation: tuple[ConversationEntry, ...] = ()
    left_out: int = 0
    """Earlier mails not shown (only the latest ones travel in the alert)."""


def rating_facts(source: DeliverySource) -> dict[str, Any]:
    return {
        **source.ticket_values(),
        "rating": int(source.facts.get("rating") or 0),
        "comment": fact_text(source, "comment"),
    }


def conversation_of(source: DeliverySource) -> tuple[ConversationEntry, ...]:
    entries = source.facts.get("conversation") or []
    return tuple(
        ConversationEntry(
            at=fact_moment(entry.get("at")),
            author=str(entry.get("author") or ""),
            text=trim_text(str(entry.get("text") or "")),
        )
        for entry in entries
        if isinstance(entry, dict)
    )
