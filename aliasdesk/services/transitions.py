"""Changing a ticket: status, owner, priority. Each change is an event and, where someone
needs to know, a notification (status to the requester, assignment to the new owner,
a feedback request when the ticket is resolved)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from aliasdesk.db.models import Ticket
from aliasdesk.domain.commands import Command
from aliasdesk.domain.organisation import RoutingConfig
from aliasdesk.domain.states import Status, TransitionError, transition
from aliasdesk.services.notifications import queue_notification
from aliasdesk.services.tickets import add_event


@dataclass(frozen=True)
class CommandResult:
    applied: bool
    message: str


def apply_command(
    session: Session,
    ticket: Ticket,
    command: Command,
    *,
    actor: str,
    config: RoutingConfig,
    cause: str,
    now: datetime,
    quiet: bool = False,
    reopen: bool = False,
) -> CommandResult:
    """Carry out one command already known to come from someone allowed to give it."""
    if command.error:
        return CommandResult(False, f"{command}: {command.error}")
    name = command.name
    if name == "note":
        return CommandResult(True, "#note: kept as an internal note")
    if name in {"resolve", "close", "status"}:
        target = {"resolve": "resolved", "close": "closed"}.get(name, command.argument)
        return change_status(
            session,
            ticket,
            target,
            actor=actor,
            config=config,
            cause=cause,
            now=now,
            quiet=quiet,
            reopen=reopen,
        )
    if name == "priority":
        old = ticket.priority
        ticket.priority = command.argument
        add_event(session, ticket, "priority", actor, f"{old} -> {command.argument}", now)
        return CommandResult(True, f"{command}: priority is now {command.argument}")
    if name in {"assign", "take"}:
        member = actor if name == "take" else command.argument
        if not config.is_member(member, ticket.department):
            return CommandResult(
                False, f"{command}: {member} is not a member of {ticket.department}"
            )
        change_owner(session, ticket, member, actor=actor, config=config, cause=cause, now=now)
        return CommandResult(True, f"{command}: {member} now owns {ticket.ref}")
    return CommandResult(False, f"{command}: not understood")


def change_status(
    session: Session,
    ticket: Ticket,
    target: str,
    *,
    actor: str,
    config: RoutingConfig,
    cause: str,
    now: datetime,
    quiet: bool = False,
    reopen: bool = False,
) -> CommandResult:
    old = Status(ticket.status)
    if old.value == target:
        return CommandResult(True, f"{ticket.ref} is already {target}")
    try:
        new = transition(old, Status(target))
    except TransitionError as error:
        return CommandResult(False, f"#status {target}: {error}")
    ticket.status = new.value
    if new is Status.RESOLVED:
        ticket.resolved_at = now
    detail = f"{old.value} -> {new.value}" + (
        " (reopened by the requester's reply)" if reopen else ""
    )
    add_event(session, ticket, "status", actor, detail, now)
    if not quiet:
        _announce_status(session, ticket, old.value, actor, config, cause, now)
    return CommandResult(True, f"status is now {new.value}")


def _announce_status(
    session: Session,
    ticket: Ticket,
    old: str,
    actor: str,
    config: RoutingConfig,
    cause: str,
    now: datetime,
) -> None:
    department = config.departments.get(ticket.department)
    sender = department.primary_alias if department else actor
    domain = config.domains[0] if config.domains else "aliasdesk.invalid"
    # A resolved ticket's requester gets the feedback request, which says it is resolved.
    kind = "feedback_request" if ticket.status == "resolved" else "status_update"
    queue_notification(
        session,
        kind=kind,
        recipient=ticket.requester,
        sender=sender,
        cause=cause,
        now=now,
        ticket=ticket,
        domain=domain,
        context={"old_status": old, "new_status": ticket.status, "changed_by": actor},
    )


def change_owner(
    session: Session,
    ticket: Ticket,
    owner: str | None,
    *,
    actor: str,
    config: RoutingConfig,
    cause: str,
    now: datetime,
    reason: str = "",
    notify: bool = True,
) -> None:
    old = ticket.owner
    ticket.owner = owner
    ticket.assigned = True
    detail = f"{old or 'nobody'} -> {owner or 'nobody'}" + (f" ({reason})" if reason else "")
    add_event(session, ticket, "assigned", actor, detail, now)
    if notify and owner and owner != actor:
        department = config.departments.get(ticket.department)
        queue_notification(
            session,
            kind="assignment",
            recipient=owner,
            sender=department.primary_alias if department else actor,
            cause=cause,
            now=now,
            ticket=ticket,
            context={"assigned_by": actor, "previous_owner": old},
            domain=config.domains[0] if config.domains else "aliasdesk.invalid",
        )
