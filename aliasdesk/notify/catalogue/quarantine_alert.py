"""The admins' alert about a mail that could not be turned into work (quarantined)."""

from __future__ import annotations

from aliasdesk.notify.catalogue.kind import DeliverySource, NotificationKind, fact_moment
from aliasdesk.notify.catalogue.samples import SAMPLE_CREATED
from aliasdesk.notify.kinds import QuarantineAlertContext


def _sample(department: str | None) -> QuarantineAlertContext:
    return QuarantineAlertContext(
        quarantine_id=7,
        reason="no-department: sent to no known alias",
        message_id="<abc123@mail.example.net>",
        from_address="someone@example.net",
        subject="Question about invoices",
        received_at=SAMPLE_CREATED,
    )


def _build(source: DeliverySource) -> QuarantineAlertContext:
    facts = source.facts
    return QuarantineAlertContext(
        quarantine_id=int(facts["quarantine_id"]),
        reason=str(facts.get("reason") or "(no reason given)"),
        message_id=facts.get("message_id"),
        from_address=facts.get("from_address"),
        subject=facts.get("subject"),
        received_at=fact_moment(facts.get("received_at")),
    )


QUARANTINE_ALERT = NotificationKind(
    name="quarantine_alert",
    context_type=QuarantineAlertContext,
    audience="admin",
    sample=_sample,
    build=_build,
)
