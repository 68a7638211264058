"""The service-level mails: a warning before a target is missed, and the escalation once
it was. Both are built from the target and the moment it falls due, shown on the wall
clock of the department's calendar."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aliasdesk.notify.catalogue.kind import DeliverySource, NotificationKind
from aliasdesk.notify.catalogue.samples import SAMPLE_CREATED, sample_ticket_to_owner
from aliasdesk.notify.kinds import EscalationContext, SlaWarningContext

_SAMPLE_DUE = SAMPLE_CREATED + timedelta(hours=4)


def _warning_sample(department: str | None) -> SlaWarningContext:
    return SlaWarningContext(
        **sample_ticket_to_owner(department),
        target="first_response",
        due_at=_SAMPLE_DUE,
        remaining=timedelta(minutes=45),
    )


def _escalation_sample(department: str | None) -> EscalationContext:
    return EscalationContext(
        **sample_ticket_to_owner(department, status="open"),
        target="resolution",
        due_at=_SAMPLE_DUE,
        overdue_by=timedelta(hours=2, minutes=10),
    )


def _due(source: DeliverySource) -> datetime:
    """The due moment in the department's time zone (UTC for mail queued without one)."""
    due = datetime.fromisoformat(source.facts["due_at"])
    try:
        return due.astimezone(ZoneInfo(str(source.facts.get("timezone") or "UTC")))
    except (ZoneInfoNotFoundError, ValueError):
        return due.astimezone(UTC)


def _warning(source: DeliverySource) -> SlaWarningContext:
    due = _due(source)
    return SlaWarningContext(
        **source.ticket_values(),
        target=source.facts["target"],
        due_at=due,
        remaining=max(due - datetime.now(UTC), timedelta()),
    )


def _escalation(source: DeliverySource) -> EscalationContext:
    due = _due(source)
    return EscalationContext(
        **source.ticket_values(),
        target=source.facts["target"],
        due_at=due,
        overdue_by=max(datetime.now(UTC) - due, timedelta()),
    )


SLA_WARNING = NotificationKind(
    name="sla_warning",
    context_type=SlaWarningContext,
    audience="member",
    sample=_warning_sample,
    build=_warning,
)
ESCALATION = NotificationKind(
    name="escalation",
    context_type=EscalationContext,
    audience="member",
    sample=_escalation_sample,
    build=_escalation,
)
