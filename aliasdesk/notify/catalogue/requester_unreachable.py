"""The notice that mail to the requester came back for good, to the owner or the
department: nothing sent on the ticket reaches the requester until someone finds another
way."""

from __future__ import annotations

from aliasdesk.notify.catalogue.kind import DeliverySource, NotificationKind, fact_text
from aliasdesk.notify.catalogue.samples import sample_ticket
from aliasdesk.notify.kinds import RequesterUnreachableContext


def _sample(department: str | None) -> RequesterUnreachableContext:
    return RequesterUnreachableContext(
        **sample_ticket(department),
        failed_address="dave@example.com",
        failed_mail="the acknowledgement",
        failed_kind="acknowledgement",
        delivery_status="5.1.1",
        diagnostic="550 5.1.1 <dave@example.com>: Recipient address rejected: User unknown",
    )


def _build(source: DeliverySource) -> RequesterUnreachableContext:
    return RequesterUnreachableContext(
        **source.ticket_values(),
        failed_address=fact_text(source, "failed_address"),
        failed_mail=fact_text(source, "failed_mail"),
        failed_kind=fact_text(source, "failed_kind"),
        delivery_status=fact_text(source, "delivery_status"),
        diagnostic=fact_text(source, "diagnostic"),
    )


REQUESTER_UNREACHABLE = NotificationKind(
    name="requester_unreachable",
    context_type=RequesterUnreachableContext,
    audience="member",
    sample=_sample,
    build=_build,
)
