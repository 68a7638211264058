"""A member's morning digest: the open tickets they own, overdue first, with due times in
their department's time zone, so the day starts from what is late rather than from the
inbox. About no one ticket, so it threads to nothing and comes from the service address.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aliasdesk.notify.catalogue.kind import DeliverySource, NotificationKind, fact_text
from aliasdesk.notify.catalogue.samples import SAMPLE_CREATED
from aliasdesk.notify.kinds import MailContext
from aliasdesk.notify.language import _, describe_duration, format_day
from aliasdesk.notify.wording import priority_word, sla_target_label, status_word


@dataclass(frozen=True, slots=True)
class DigestTicket:
    """One line of the digest. ``due_at`` is the next target's moment in the recipient's
    zone (None: no target, or ``on_hold`` while the ticket waits on the requester)."""

    ref: str
    subject: str
    status: str
    priority: str
    department_name: str
    requester_name: str
    created_at: datetime
    due_at: datetime | None = None
    target: str = ""
    overdue_by: timedelta | None = None
    on_hold: bool = False

    @property
    def overdue(self) -> bool:
        return self.overdue_by is not None

    @property
    def due_text(self) -> str:
        """The line's state in words: which target is overdue and by how long, which is
        due next, on hold, or no target at all."""
        if self.on_hold:
            return _("on hold: waiting on the requester")
        if self.due_at is None:
            return _("no target")
        label = sla_target_label(self.target)
        if self.overdue_by is not None:
            return _("%(target)s overdue by %(duration)s") % {
                "target": label,
                "duration": describe_duration(self.overdue_by),
            }
        return _("%(target)s due") % {"target": label}

    @property
    def status_text(self) -> str:
        return status_word(self.status)

    @property
    def priority_text(self) -> str:
        return priority_word(self.priority)


@dataclass(frozen=True, kw_only=True)
class MemberDigestContext(MailContext):
    """The digest of ``day`` (the recipient's local date) with its tickets, overdue first."""

    recipient: str
    recipient_name: str
    day: date
    zone: str
    tickets: tuple[DigestTicket, ...]
    more: int = 0
    """Open tickets past the ones listed (a digest lists at most a screenful)."""

    @property
    def overdue_count(self) -> int:
        return sum(1 for ticket in self.tickets if ticket.overdue)

    @property
    def day_text(self) -> str:
        """The day as the reader's language writes it ("Di., 4. März 2025")."""
        return format_day(self.day)


def zone_named(name: str) -> ZoneInfo:
    """The IANA zone ``name``; UTC for a name this machine does not know."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _moment(value: Any, zone: ZoneInfo) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    return datetime.fromisoformat(value).astimezone(zone)


def _ticket(entry: dict[str, Any], zone: ZoneInfo) -> DigestTicket:
    overdue = entry.get("overdue_s")
    created = _moment(entry.get("created_at"), zone)
    return DigestTicket(
        ref=str(entry.get("ref", "")),
        subject=str(entry.get("subject", "")),
        status=str(entry.get("status", "")),
        priority=str(entry.get("priority", "")),
        department_name=str(entry.get("department_name", "")),
        requester_name=str(entry.get("requester_name", "")),
        created_at=created or datetime.now(zone),
        due_at=_moment(entry.get("due_at"), zone),
        target=str(entry.get("target", "")),
        overdue_by=timedelta(seconds=overdue) if isinstance(overdue, int | float) else None,
        on_hold=bool(entry.get("on_hold")),
    )


def _build(source: DeliverySource) -> MemberDigestContext:
    zone = zone_named(fact_text(source, "zone") or "UTC")
    entries = [e for e in source.facts.get("tickets", []) if isinstance(e, dict)]
    return MemberDigestContext(
        recipient=source.recipient,
        recipient_name=source.person_name(source.recipient, ""),
        day=date.fromisoformat(fact_text(source, "day")),
        zone=zone.key,
        tickets=tuple(_ticket(entry, zone) for entry in entries),
        more=int(source.facts.get("more") or 0),
    )


def _sample(department: str | None) -> MemberDigestContext:
    created = SAMPLE_CREATED
    late = DigestTicket(
        ref="HR-42",
        subject="Parental leave from June",
        status="open",
        priority="high",
        department_name="Human Resources",
        requester_name="Dave Miller",
        created_at=created,
        due_at=created + timedelta(hours=4),
        target="first_response",
        overdue_by=timedelta(hours=19, minutes=45),
    )
    soon = DigestTicket(
        ref="HR-45",
        subject="Address change",
        status="new",
        priority="normal",
        department_name="Human Resources",
        requester_name="Erin Young",
        created_at=created + timedelta(hours=20),
        due_at=created + timedelta(days=3, hours=20),
        target="resolution",
    )
    waiting = DigestTicket(
        ref="HR-40",
        subject="Payslip for February",
        status="pending",
        priority="normal",
        department_name="Human Resources",
        requester_name="Frank Olsen",
        created_at=created - timedelta(days=2),
        on_hold=True,
    )
    return MemberDigestContext(
        recipient="alice@example.com",
        recipient_name="Alice",
        day=(created + timedelta(days=1)).date(),
        zone="UTC",
        tickets=(late, soon, waiting),
    )


MEMBER_DIGEST = NotificationKind(
    name="member_digest",
    context_type=MemberDigestContext,
    audience="staff",
    sample=_sample,
    build=_build,
    label="morning digest",
)
