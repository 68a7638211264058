"""The notice that mail to the requester came back for good, to the owner or the
department: nothing sent on the ticket reaches the requester until someone finds another
way."""

from __future__ import annotations

from aliasdesk.notify.catalogue import find_kind
from aliasdesk.notify.catalogue.kind import DeliverySource, NotificationKind, fact_text
from aliasdesk.notify.catalogue.samples import sample_ticket
from aliasdesk.notify.kinds import RequesterUnreachableContext


def _sample(department: str | None) -> RequesterUnreachableContext:
    return RequesterUnreachableContext(
        **sample_ticket(department),
        failed_address="dave@example.com",
        failed_mail=_mentioned("acknowledgement"),
        delivery_status="5.1.1",
        diagnostic="550 5.1.1 <dave@example.com>: Recipient address rejected: User unknown",
    )


def _mentioned(kind_name: str) -> str:
    """The mail that came back, named in the reader's language by its own kind."""
    kind = find_kind(kind_name)
    return kind.mentioned() if kind is not None and kind.mentioned is not None else ""


def _build(source: DeliverySource) -> RequesterUnreachableContext:
    return RequesterUnreachableContext(
        **source.ticket_values(),
        failed_address=fact_text(source, "failed_address"),
        failed_mail=_mentioned(fact_text(source, "failed_kind"))
        or fact_text(source, "failed_mail"),
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
