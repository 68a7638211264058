"""``#merge KEY-N`` and ``#move DEPT``: a ticket's conversation handed to another ticket.

Both move every message (and so every file) of the ticket into the other one, copy its
watchers there, link the two, close the old ticket and remember where its conversation
went (``merged_into_id``), so mail still naming the old ticket (its tag, a reply to its
mail, its reply address) is filed with the new one. The requester side of the old ticket
is told the new reference, and nothing more of the other ticket.

A merge stays inside the department: the member merging is a member there, and another
department's ticket is not theirs to read or fill; and it joins two requests of one
requester only, since everyone following the merged ticket follows the other one from
then on and would read a stranger's request there. A move opens a new ticket in the other
department, routed there as a new request would be (the ``ticket_created`` job chooses
the owner by that department's rules), and releases the old owner.

Closed tickets neither give nor take a conversation, which also rules out cycles: the
ticket merged away is closed, so nothing can be merged back into it.
"""

from __future__ import annotations

import json
import secrets

from sqlalchemy import select, update

from aliasdesk.db.models import Job, Ticket, TicketLink, TicketMessage, Watcher
from aliasdesk.db.queries import next_ticket_number
from aliasdesk.db.unit_of_work import work_of
from aliasdesk.domain.commands import Command
from aliasdesk.domain.refs import parse_ref
from aliasdesk.notify.catalogue.ticket_moved import TICKET_MOVED
from aliasdesk.notify.language import _
from aliasdesk.services.command_call import CommandCall, refused
from aliasdesk.services.notifications import queue_notification
from aliasdesk.services.tickets import MAX_WATCHERS, add_event, department_sender
from aliasdesk.services.transitions import (
    CommandResult,
    change_owner,
    change_status,
    requester_side,
)


def merge_ticket(call: CommandCall, command: Command) -> CommandResult:
    """``#merge HR-12``: this ticket's conversation moves into HR-12, then it is closed."""
    source, ref = call.ticket, parse_ref(command.argument)
    target = call.session.scalar(
        select(Ticket).where(Ticket.department == ref.department, Ticket.number == ref.number)
    )
    if target is None or target.department != source.department:
        # Another department's ticket is not named back: its existence is not ours to show.
        missing = _("there is no ticket %(ref)s in %(department)s")
        return refused(command, missing % {"ref": str(ref), "department": source.department})
    if target.id == source.id:
        return refused(command, _("a ticket cannot be merged into itself"))
    if target.requester != source.requester:
        # Each requester would then read the other's request and the answers to it.
        return refused(command, _("%(ref)s is another requester's request") % {"ref": target.ref})
    closed = next((t for t in (source, target) if t.status == "closed"), None)
    if closed is not None:
        return refused(command, _("%(ref)s is closed") % {"ref": closed.ref})
    _hand_over(call, target, how="merged")
    merged = _("the conversation of %(ref)s is now in %(target)s")
    return CommandResult(
        True, f"{command}: " + merged % {"ref": source.ref, "target": target.ref}, True
    )


def move_ticket(call: CommandCall, command: Command) -> CommandResult:
    """``#move IT``: a new ticket in IT takes the conversation; the old one is closed."""
    source, key = call.ticket, command.argument
    department = call.config.departments.get(key)
    if department is None:
        known = ", ".join(call.config.departments)
        missing = _("there is no department %(key)s; known: %(known)s")
        return refused(command, missing % {"key": key, "known": known})
    if key == source.department:
        already = _("%(ref)s is in %(department)s already")
        return refused(command, already % {"ref": source.ref, "department": key})
    if source.status == "closed":
        return refused(command, _("%(ref)s is closed") % {"ref": source.ref})
    target = _open_in(call, key)
    if source.owner:
        change_owner(
            call.session,
            source,
            None,
            actor=call.actor,
            config=call.config,
            cause=call.cause,
            now=call.now,
            reason=f"moved to {department.name}",
            notify=False,
        )
    _hand_over(call, target, how="moved")
    moved = _("%(ref)s is now %(target)s in %(department)s") % {
        "ref": source.ref,
        "target": target.ref,
        "department": department.name,
    }
    return CommandResult(True, f"{command}: {moved}", True)


def _open_in(call: CommandCall, department: str) -> Ticket:
    """The new ticket of a move, and its ``ticket_created`` job: the department's rules
    choose the owner, who gets the assignment mail; the requester's mail about the move is
    the move notice, not a second acknowledgement."""
    source, now = call.ticket, call.now
    target = Ticket(
        department=department,
        number=next_ticket_number(call.session, department),
        subject=source.subject,
        requester=source.requester,
        requester_name=source.requester_name,
        status="new",
        priority=source.priority,
        reply_token=secrets.token_hex(8),
        alias=None,
        origin_message_id=source.origin_message_id,
        assigned=False,
        created_at=now,
        updated_at=now,
    )
    call.session.add(target)
    call.session.flush()
    add_event(call.session, target, "created", call.actor, f"moved here from {source.ref}", now)
    call.session.add(
        Job(
            kind="ticket_created",
            ticket_id=target.id,
            payload=json.dumps({"send_mail": True, "acknowledge": False}),
            state="pending",
            attempts=0,
            available_at=now,
            created_at=now,
        )
    )
    return target


def _hand_over(call: CommandCall, target: Ticket, *, how: str) -> None:
    """Move the conversation, the watchers and the links; close the source; tell its
    requester side (read before anyone is copied over) the new reference."""
    session, source, now = call.session, call.ticket, call.now
    told = requester_side(session, source)
    session.flush()
    for moved in (source.id, target.id):  # what the requester saw of either changes
        work_of(session).known.requester_seen.pop(moved, None)
    session.execute(
        update(TicketMessage)
        .where(TicketMessage.ticket_id == source.id)
        .values(ticket_id=target.id)
        .execution_options(synchronize_session="fetch")
    )
    _copy_watchers(call, target)
    _link(call, source, target)
    source.merged_into_id = target.id
    change_status(
        session,
        source,
        "closed",
        actor=call.actor,
        config=call.config,
        cause=call.cause,
        now=now,
        quiet=True,
        why=f"{how} into {target.ref}",
    )
    add_event(session, source, how, call.actor, f"conversation {how} to {target.ref}", now)
    add_event(session, target, how, call.actor, f"conversation of {source.ref} {how} here", now)
    for recipient in told:
        if recipient != call.actor:
            queue_notification(
                session,
                kind=TICKET_MOVED.name,
                recipient=recipient,
                sender=department_sender(target, call.config),
                cause=call.cause,
                now=now,
                ticket=target,
                domain=call.domain,
                outside=not call.config.is_staff(recipient),
                context={
                    "old_ref": source.ref,
                    "how": how,
                    "old_department_name": _department_name(call, source.department),
                },
            )


def _department_name(call: CommandCall, key: str) -> str:
    department = call.config.departments.get(key)
    return department.name if department is not None else key


def _copy_watchers(call: CommandCall, target: Ticket) -> None:
    """The source's requester and watchers follow the target (unless they do already, or
    are members of its department), up to the watcher limit: they followed this
    conversation, and their mail to the old ticket now lands in the target."""
    session, source = call.session, call.ticket
    have = set(session.scalars(select(Watcher.address).where(Watcher.ticket_id == target.id)))
    have.add(target.requester)
    wanted = [(source.requester, source.requester_name)] + [
        (w.address, w.name)
        for w in session.scalars(
            select(Watcher).where(Watcher.ticket_id == source.id).order_by(Watcher.address)
        )
    ]
    for address, name in wanted:
        if len(have) > MAX_WATCHERS:
            break
        if address in have or call.config.is_member(address, target.department):
            continue
        have.add(address)
        session.add(Watcher(ticket_id=target.id, address=address, name=name))
    session.flush()


def _link(call: CommandCall, source: Ticket, target: Ticket) -> None:
    """Each ticket lists the other (once, however often the two meet)."""
    session = call.session
    for one, other in ((source, target), (target, source)):
        if session.get(TicketLink, (one.id, other.id)) is None:
            session.add(TicketLink(ticket_id=one.id, linked_id=other.id))
    session.flush()
