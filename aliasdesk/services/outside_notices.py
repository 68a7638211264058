"""Answers to mail that did not count: what a forger's victim or a stranger is told.

Both are written so that the mail itself cannot be turned into a weapon: the real member
hears at most once per ticket an hour that mail in their name was not applied (so a
forger cannot flood them with it), and a stranger gets at most one neutral answer per
ticket a day, under their own subject, threaded to their own mail, naming nothing of the
ticket (CONTRACT §5: outsiders learn nothing).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from aliasdesk.db.models import Delivery, Ticket
from aliasdesk.db.unit_of_work import work_of
from aliasdesk.domain.organisation import RoutingConfig
from aliasdesk.mail.addresses import is_noreply
from aliasdesk.mail.model import ParsedMail
from aliasdesk.notify.catalogue.unverified_member import UNVERIFIED_MEMBER
from aliasdesk.services.notifications import queue_notification, sent_recently
from aliasdesk.services.tickets import department_sender

MEMBER_NOTICE_EVERY = timedelta(hours=1)
"""A member hears at most this often per ticket that mail in their name was not applied."""
MEMBER_NOTICES_PER_HOUR = 10
"""And at most this many such notices an hour over all tickets: a forger writing to many
tickets in a member's name must not bury the member in notices. The same cap holds for
the neutral answer to staff outside the ticket (a member of another department, an admin)."""
STRANGER_NOTICE_EVERY = timedelta(days=1)
"""Someone outside a ticket gets at most one answer per ticket this often."""


@dataclass(frozen=True)
class NoticeFacts:
    """The mail that did not count, and where it landed."""

    ticket: Ticket
    mail: ParsedMail
    config: RoutingConfig
    cause: str
    now: datetime

    @property
    def sender(self) -> str:
        return self.mail.from_.address if self.mail.from_ else ""

    @property
    def domain(self) -> str:
        return self.config.domains[0] if self.config.domains else "aliasdesk.invalid"


def tell_member_unverified(
    session: Session, facts: NoticeFacts, refused: list[str], strict: bool
) -> None:
    """Tell the member whose address the mail carried that it changed nothing, and how to
    make their own mail count (answer our mail, or DMARC via the receiving server)."""
    member, ticket = facts.sender, facts.ticket
    since = facts.now - MEMBER_NOTICE_EVERY
    if not member or sent_recently(session, ticket, "unverified_member", member, since):
        return
    if not _within_the_hourly_cap(session, UNVERIFIED_MEMBER.name, member, facts.now):
        return
    queue_notification(
        session,
        kind="unverified_member",
        recipient=member,
        sender=department_sender(ticket, facts.config),
        cause=facts.cause,
        now=facts.now,
        ticket=ticket,
        context={
            "refused": [line.partition(":")[0] for line in refused][:10],
            "their_subject": facts.mail.subject[:200],
            "strict": strict,
        },
        domain=facts.domain,
    )


def _within_the_hourly_cap(session: Session, kind: str, recipient: str, now: datetime) -> bool:
    """Whether ``recipient`` may get one more notice of ``kind`` this hour (counted once
    per transaction, then kept up to date), and counts it if so."""
    counts = work_of(session).known.member_notice_counts
    key = f"{kind} {recipient}"
    if key not in counts:
        counts[key] = _notices_within_the_hour(session, kind, recipient, now)
    if counts[key] >= MEMBER_NOTICES_PER_HOUR:
        return False
    counts[key] += 1
    return True


def _notices_within_the_hour(session: Session, kind: str, recipient: str, now: datetime) -> int:
    with session.no_autoflush:
        count = session.scalar(
            select(func.count())
            .select_from(Delivery)
            .where(
                Delivery.recipient == recipient,
                Delivery.kind == kind,
                Delivery.created_at >= now - timedelta(hours=1),
            )
        )
    return int(count or 0)


def tell_stranger(session: Session, facts: NoticeFacts, commands: list[str]) -> None:
    """Someone outside the ticket wrote commands: say they were passed on, not applied."""
    stranger, ticket = facts.sender, facts.ticket
    if not stranger or is_noreply(stranger):
        return
    since = facts.now - STRANGER_NOTICE_EVERY
    if sent_recently(session, ticket, "outside_notice", stranger, since):
        return
    staff = facts.config.is_staff(stranger)
    # Mail to outside addresses has its own limit (10 an hour, any kind); a member of
    # another department or an admin, whose address a forger may write from to many
    # tickets, is held to the members' cap.
    if staff and not _within_the_hourly_cap(session, "outside_notice", stranger, facts.now):
        return
    queue_notification(
        session,
        kind="outside_notice",
        recipient=stranger,
        sender=department_sender(ticket, facts.config),
        cause=facts.cause,
        now=facts.now,
        ticket=ticket,
        context={
            "their_subject": facts.mail.subject[:200],
            "their_message_id": facts.mail.message_id,
            "their_name": facts.mail.from_.name if facts.mail.from_ else "",
            "commands": [command[:100] for command in commands][:10],
        },
        domain=facts.domain,
        outside=not staff,
        private=True,
    )
