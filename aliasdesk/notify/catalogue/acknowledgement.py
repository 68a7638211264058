"""The acknowledgement: the requester learns their mail became a ticket, and which other
departments opened tickets from the same mail."""

from __future__ import annotations

from datetime import timedelta

from aliasdesk.notify.catalogue.kind import DeliverySource, NotificationKind
from aliasdesk.notify.catalogue.samples import sample_ticket
from aliasdesk.notify.kinds import AcknowledgementContext, LinkedTicket
from aliasdesk.notify.language import _


def _sample(department: str | None) -> AcknowledgementContext:
    return AcknowledgementContext(
        **sample_ticket(department),
        first_response_within=timedelta(hours=4),
        linked=(LinkedTicket("IT-7", "IT Support"),),
    )


def _build(source: DeliverySource) -> AcknowledgementContext:
    values = source.ticket_values()
    if not source.facts.get("quote_request", True):
        values["ticket_text"] = ""  # see services/assignment.py: _acknowledge
    return AcknowledgementContext(
        **values,
        first_response_within=source.first_response_within(),
        first_response_by=source.first_response_due(),
        linked=source.linked_tickets(),
    )


# RFC 3834 §5: "auto-replied" marks a direct automatic response to a mail, which this is
# (and what the per-sender hourly limit in CONTRACT §5 counts). Every other kind is
# "auto-generated".
ACKNOWLEDGEMENT = NotificationKind(
    name="acknowledgement",
    context_type=AcknowledgementContext,
    audience="requester",
    sample=_sample,
    build=_build,
    auto_submitted="auto-replied",
    mentioned=lambda: _("the acknowledgement"),
)
