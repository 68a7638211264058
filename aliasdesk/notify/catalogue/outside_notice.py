"""The notice to someone outside a ticket who wrote commands on it. Built only from what
they wrote themselves, never from the ticket (CONTRACT §5)."""

from __future__ import annotations

from aliasdesk.notify.catalogue.kind import DeliverySource, NotificationKind, fact_texts
from aliasdesk.notify.catalogue.samples import sample_ticket
from aliasdesk.notify.kinds import OutsideNoticeContext
from aliasdesk.notify.text import friendly_name


def _sample(department: str | None) -> OutsideNoticeContext:
    ticket = sample_ticket(department)
    return OutsideNoticeContext(
        recipient_name="Mallory",
        their_subject="[HR-42] close this",
        department_name=str(ticket["department_name"]),
        department_alias=str(ticket["department_alias"]),
        commands=("#close",),
    )


def _build(source: DeliverySource) -> OutsideNoticeContext:
    return OutsideNoticeContext(
        recipient_name=friendly_name(source.recipient, source.facts.get("their_name") or None),
        their_subject=str(source.facts.get("their_subject", "")),
        department_name=source.department_name(),
        department_alias=source.sender,
        commands=fact_texts(source, "commands"),
    )


OUTSIDE_NOTICE = NotificationKind(
    name="outside_notice",
    context_type=OutsideNoticeContext,
    audience="outside",
    sample=_sample,
    build=_build,
)
