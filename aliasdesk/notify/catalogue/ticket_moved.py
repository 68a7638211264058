"""The move notice: the requester side of a ticket learns that its conversation now lives
under another reference, merged into another ticket of theirs or handed to another
department, and that replies to the old one still arrive."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from aliasdesk.notify.catalogue.kind import DeliverySource, NotificationKind
from aliasdesk.notify.catalogue.samples import sample_ticket
from aliasdesk.notify.kinds import TicketMailContext

How = Literal["merged", "moved"]


@dataclass(frozen=True, kw_only=True)
class TicketMovedContext(TicketMailContext):
    """``old_ref`` is the reference the requester knew; ``how`` says whether it was merged
    (same department) or moved (``old_department_name`` handed it over)."""

    old_ref: str
    how: How
    old_department_name: str


def _sample(department: str | None) -> TicketMovedContext:
    return TicketMovedContext(
        **sample_ticket(department),
        old_ref="HR-41",
        how="moved",
        old_department_name="Human Resources",
    )


def _build(source: DeliverySource) -> TicketMovedContext:
    facts = source.facts
    how: How = "moved" if facts.get("how") == "moved" else "merged"
    return TicketMovedContext(
        **source.ticket_values(),
        old_ref=str(facts.get("old_ref") or ""),
        how=how,
        old_department_name=str(facts.get("old_department_name") or ""),
    )


TICKET_MOVED = NotificationKind(
    name="ticket_moved",
    context_type=TicketMovedContext,
    audience="requester",
    sample=_sample,
    build=_build,
    label="ticket merged or moved",
)
