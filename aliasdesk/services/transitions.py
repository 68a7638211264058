"""Changing a ticket: status, owner, priority. Each change is an event and, where someone
needs to know, a notification (status to the requester and watchers, assignment to the new
owner, a feedback request when the ticket is resolved).

A command that is refused changes nothing: every check happens before the first write.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from aliasdesk.db.models import Ticket, Watcher
from aliasdesk.domain.organisation import RoutingConfig
from aliasdesk.domain.states import ALLOWED, Status, TransitionError, transition
from aliasdesk.mail.addresses import is_noreply
from aliasdesk.notify.language import _
from aliasdesk.services.notifications import queue_notification
from aliasdesk.services.sla import follow_status
from aliasdesk.services.ticket_figures import record_status
from aliasdesk.services.tickets import add_event, department_sender


@dataclass(frozen=True)
class CommandResult:
    """What became of one command; ``changed`` is False when it was already so; ``text``
    is what it adds to the reply it came with (a saved answer)."""

    applied: bool
    message: str
    changed: bool = False
    text: str = ""


def member_address(config: RoutingConfig, department: str, wanted: str) -> str:
    """``bob`` or ``bob@example.com`` -> the member's address (unchanged if no match).

    A bare local part is accepted when exactly one member of the department has it, so
    "#assign bob" works as people naturally write it.
    """
    if "@" in wanted:
        return wanted
    dept = config.departments.get(department)
    found = [m for m in (dept.members if dept else ()) if m.partition("@")[0] == wanted]
    return found[0] if len(found) == 1 else wanted


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
    why: str = "",
    waiting_on: str = "",
    actor_name: str = "",
) -> CommandResult:
    """Move the ticket to ``target`` if its life cycle allows; ``why`` goes into the event.

    ``waiting_on`` says who a pending ticket waits for ("vendor"), so the requester is not
    asked for an answer that someone else owes; empty means the requester.
    """
    if target == Status.PENDING.value and waiting_on:
        why = why or f"waiting on {waiting_on}"
    old = Status(ticket.status)
    if old.value == target:
        already = _("%(ref)s is %(status)s already")
        return CommandResult(True, already % {"ref": ticket.ref, "status": target})
    try:
        new = transition(old, Status(target))
    except TransitionError as error:
        return CommandResult(False, _refusal(error))
    ticket.status = new.value
    record_status(ticket, old.value, config, now)
    follow_status(session, ticket, config, now)  # pending stops the clock (sla.pause_on)
    detail = f"{old.value} -> {new.value}" + (f" ({why})" if why else "")
    add_event(session, ticket, "status", actor, detail, now)
    if not quiet:
        facts = {"waiting_on": waiting_on} if new is Status.PENDING and waiting_on else {}
        facts.update({"changed_by_name": actor_name} if actor_name else {})
        announce_status(session, ticket, old.value, actor, config, cause, now, facts)
    return CommandResult(True, _("status is now %(status)s") % {"status": new.value}, True)


def _refusal(error: TransitionError) -> str:
    """Why the life cycle refused a change, in the language of whoever asked for it."""
    allowed = ", ".join(sorted(s.value for s in ALLOWED[error.current]))
    values = {"current": error.current.value, "target": error.target.value, "allowed": allowed}
    if not allowed:
        why = _("a %(current)s ticket cannot become %(target)s; it is final") % values
    else:
        why = _("a %(current)s ticket cannot become %(target)s; allowed: %(allowed)s") % values
    return _("%(why)s; nothing was changed") % {"why": why}


def requester_side(session: Session, ticket: Ticket) -> list[str]:
    """The requester and the people copied on the request, who hear what the owner says.

    No-reply addresses (a monitoring alert's sender) are left out: nobody reads them.
    """
    watchers = session.scalars(
        select(Watcher.address).where(Watcher.ticket_id == ticket.id).order_by(Watcher.address)
    )
    everyone = dict.fromkeys([ticket.requester, *watchers])
    return [address for address in everyone if address and not is_noreply(address)]


def announce_status(
    session: Session,
    ticket: Ticket,
    old: str,
    actor: str,
    config: RoutingConfig,
    cause: str,
    now: datetime,
    facts: dict[str, str] | None = None,
) -> None:
    """Tell the requester side what changed; the requester of a resolved ticket is asked
    for feedback instead (that mail says it is resolved), watchers get the plain update."""
    sender = department_sender(ticket, config)
    domain = config.domains[0] if config.domains else "aliasdesk.invalid"
    for recipient in requester_side(session, ticket):
        asks_feedback = ticket.status == "resolved" and recipient == ticket.requester
        # Whoever made the change needs no mail about it, but a requester who resolved
        # their own ticket ("#resolve", solved) is asked for feedback as usual.
        if not recipient or (recipient == actor and not asks_feedback):
            continue
        queue_notification(
            session,
            kind="feedback_request" if asks_feedback else "status_update",
            recipient=recipient,
            sender=sender,
            cause=cause,
            now=now,
            ticket=ticket,
            domain=domain,
            outside=not config.is_staff(recipient),
            context={
                "old_status": old,
                "new_status": ticket.status,
                "changed_by": actor,
                **(facts or {}),
            },
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
    note: str = "",
    actor_name: str = "",
) -> None:
    """Give the ticket to ``owner``; the new owner is mailed unless they did it themselves.

    ``note`` is the handover note of ``#assign <member> …``: it travels in the new owner's
    assignment mail only, never to the requester.

    ``ticket.assigned`` is left alone: it records that the creation job ran (and sent the
    acknowledgement), which a member's early "#take" must not pretend to have happened.
    """
    old = ticket.owner
    ticket.owner = owner
    detail = f"{old or 'nobody'} -> {owner or 'nobody'}" + (f" ({reason})" if reason else "")
    add_event(session, ticket, "assigned", actor, detail, now)
    if notify and owner and owner != actor:
        queue_notification(
            session,
            kind="assignment",
            recipient=owner,
            sender=department_sender(ticket, config),
            cause=cause,
            now=now,
            ticket=ticket,
            context={
                "assigned_by": actor,
                "assigned_by_name": actor_name,
                "previous_owner": old,
                "note": note,
            },
            domain=config.domains[0] if config.domains else "aliasdesk.invalid",
        )
