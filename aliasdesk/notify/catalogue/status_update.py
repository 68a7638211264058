"""The status update: the requester side hears that the ticket moved (on hold, picked up,
reopened, closed) and what happens next."""

from __future__ import annotations

from typing import Any

from aliasdesk.notify.catalogue.kind import DeliverySource, NotificationKind
from aliasdesk.notify.catalogue.samples import sample_ticket
from aliasdesk.notify.kinds import StatusUpdateContext
from aliasdesk.notify.language import _


def _sample(department: str | None) -> StatusUpdateContext:
    return StatusUpdateContext(
        **{**sample_ticket(department), "status": "pending"},
        old_status="open",
        new_status="pending",
        changed_by="Alice",
    )


def _build(source: DeliverySource) -> StatusUpdateContext:
    """Who a pending ticket waits on only while it still waits; when the owner made the
    change, the mail calls them the same in both places."""
    facts = source.facts
    values: dict[str, Any] = source.ticket_values()
    status = values["status"]
    changed_by = source.actor_name(facts.get("changed_by"), facts.get("changed_by_name") or "")
    if values["owner"] and facts.get("changed_by") == values["owner"]:
        values["owner_name"] = changed_by
    pending = status == facts.get("new_status") == "pending"
    return StatusUpdateContext(
        **values,
        old_status=facts.get("old_status", ""),
        new_status=status,
        changed_by=changed_by,
        waiting_on=str(facts.get("waiting_on") or "") if pending else "",
    )


STATUS_UPDATE = NotificationKind(
    name="status_update",
    context_type=StatusUpdateContext,
    audience="requester",
    sample=_sample,
    build=_build,
    mentioned=lambda: _("the status update"),
)
