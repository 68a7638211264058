"""A new ticket gets an owner, then its acknowledgement (which names the owner), and its
SLA clocks. Runs as the ``ticket_created`` job; safe to run twice (``ticket.assigned``).

A ticket taken in without sending mail is imported history: its requester was answered
long ago, so it starts no SLA clock (CONTRACT §1, ``import --no-mail``)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from aliasdesk.db.models import Ticket
from aliasdesk.db.queries import (
    active_counts,
    reserve_round_robin_turns,
    set_round_robin_cursor,
    take_round_robin_turn,
)
from aliasdesk.db.unit_of_work import work_of
from aliasdesk.domain.assignment import OwnerChoice, choose_owner, takes_round_robin_turn
from aliasdesk.domain.organisation import Department, RoutingConfig
from aliasdesk.mail.addresses import is_noreply
from aliasdesk.services.languages import ticket_language
from aliasdesk.services.notifications import queue_notification
from aliasdesk.services.sla import start_clocks
from aliasdesk.services.ticket_figures import record_targets
from aliasdesk.services.tickets import department_sender
from aliasdesk.services.transitions import change_owner

SYSTEM_ACTOR = "aliasdesk"


def assign_new_ticket(
    session: Session,
    ticket: Ticket,
    config: RoutingConfig,
    now: datetime,
    *,
    send_mail: bool,
    acknowledge: bool = True,
) -> str:
    """Choose the owner, queue the owner's and the requester's mail; returns what happened.

    ``acknowledge`` is False for a ticket a member moved here (``#move``): its requester
    was told of the move instead, and a second "thanks for writing" would be wrong."""
    if ticket.assigned:
        return f"{ticket.ref} was assigned already"
    department = config.departments.get(ticket.department)
    ticket.assigned = True
    if ticket.language is None:  # chosen before any mail of the ticket is written
        ticket.language = ticket_language(session, ticket, config)
    if not send_mail:  # imported history: its owner is dated with the ticket, not today
        now = min(now, ticket.created_at)
    if department is None:
        return f"{ticket.ref}: department {ticket.department} is no longer in the routing file"
    if ticket.owner is not None:
        # A member took it ("#take") before this job ran: keep them, still acknowledge.
        _start_sla_clocks(session, ticket, config, send_mail)
        _acknowledge(session, ticket, config, now, send_mail and acknowledge)
        return f"{ticket.ref}: kept owner {ticket.owner}"
    choice = _owner_for(session, department)
    cause = f"ticket:{ticket.id}:created"
    if choice.owner is not None:
        change_owner(
            session,
            ticket,
            choice.owner,
            actor=SYSTEM_ACTOR,
            config=config,
            cause=cause,
            now=now,
            reason=choice.reason,
            notify=send_mail,
        )
    record_targets(ticket, config)
    _start_sla_clocks(session, ticket, config, send_mail)
    _acknowledge(session, ticket, config, now, send_mail and acknowledge)
    return f"{ticket.ref}: owner {choice.owner or 'none'} ({choice.reason})"


def _owner_for(session: Session, department: Department) -> OwnerChoice:
    """The department's policy applied: a round-robin turn taken, or the open tickets
    counted for least-loaded (the batch's own count kept up to date)."""
    cursor = take_round_robin_turn(session, department.key) if _needs_turn(department) else 0
    counts = (
        _open_counts(session, department.key, department.members)
        if department.assignment == "least_loaded"
        else None
    )
    choice = choose_owner(
        department.assignment,
        department.members,
        department.away,
        fixed_member=department.fixed_member,
        cursor=cursor,
        open_counts=counts,
    )
    if counts is not None and choice.owner is not None:
        counts[choice.owner] = counts.get(choice.owner, 0) + 1
    if choice.next_cursor is not None:
        set_round_robin_cursor(session, department.key, choice.next_cursor)
    return choice


def reserve_turns_for(session: Session, tickets: Iterable[Ticket], config: RoutingConfig) -> None:
    """Reserve, in one go, the round-robin turns that assigning ``tickets`` will take."""
    wanted: dict[str, int] = {}
    for ticket in tickets:
        department = config.departments.get(ticket.department)
        if (
            department is not None
            and not ticket.assigned
            and ticket.owner is None
            and _needs_turn(department)
        ):
            wanted[department.key] = wanted.get(department.key, 0) + 1
    reserve_round_robin_turns(session, wanted)


def _needs_turn(department: Department) -> bool:
    return takes_round_robin_turn(
        department.assignment,
        department.members,
        department.away,
        fixed_member=department.fixed_member,
    )


def _open_counts(session: Session, department: str, members: Sequence[str]) -> dict[str, int]:
    """Open tickets per member: counted once per transaction (after a flush, as a batch runs
    without autoflush), then kept up to date in memory as the batch hands tickets out."""
    counts = work_of(session).known.open_counts
    if department not in counts:
        session.flush()
        counts[department] = active_counts(session, members)
    return counts[department]


def _acknowledge(
    session: Session, ticket: Ticket, config: RoutingConfig, now: datetime, send_mail: bool
) -> None:
    """CONTRACT §5: one acknowledgement, never to a no-reply address.

    It quotes the request back only to an address of the organisation. Anyone can write
    with any From: quoted to an outside address, a forger's words (a link, a demand for
    money) would reach their victim from the department's alias. The subject stays, as
    the answer to a stranger keeps theirs (CONTRACT §5), and outside addresses get at
    most 10 automatic mails an hour."""
    if not send_mail or is_noreply(ticket.requester):
        return
    queue_notification(
        session,
        kind="acknowledgement",
        recipient=ticket.requester,
        sender=department_sender(ticket, config),
        cause=f"ticket:{ticket.id}:created",
        now=now,
        ticket=ticket,
        context={"quote_request": config.is_employee(ticket.requester)},
        domain=config.domains[0] if config.domains else "aliasdesk.invalid",
        outside=not config.is_staff(ticket.requester),
    )


def _start_sla_clocks(
    session: Session, ticket: Ticket, config: RoutingConfig, send_mail: bool
) -> None:
    """Live tickets only: imported history (no mail sent) has no clock to run."""
    if send_mail:
        start_clocks(session, ticket, config)
