"""``#cc`` and ``#uncc``: a member decides who else follows a ticket from the outside.

A watcher gets what the requester gets from then on (the members' public replies, status
mail) and may answer; they never get internal notes, the mail before they were copied,
or anything of the ticket's history. Only a verified member of the ticket's department
can copy someone, so nobody can add themselves by writing in. An address that would make
mail loop (one of our aliases) or that already follows the ticket another way (the
requester, a member) is refused; so is a no-reply address, which nobody reads.
"""

from __future__ import annotations

from sqlalchemy import func, select

from aliasdesk.db.models import Watcher
from aliasdesk.domain.commands import Command
from aliasdesk.mail.addresses import is_noreply
from aliasdesk.services.command_call import CommandCall, refused
from aliasdesk.services.tickets import MAX_WATCHERS, add_event
from aliasdesk.services.transitions import CommandResult


def copy_watcher(call: CommandCall, command: Command) -> CommandResult:
    """``#cc ADDR``: add a watcher to an open ticket."""
    ticket, address = call.ticket, command.argument
    why = _cannot_copy(call, address)
    if why:
        return refused(command, why)
    if call.session.get(Watcher, (ticket.id, address)) is not None:
        return CommandResult(True, f"{command}: {address} is copied on {ticket.ref} already")
    count = call.session.scalar(
        select(func.count()).select_from(Watcher).where(Watcher.ticket_id == ticket.id)
    )
    if (count or 0) >= MAX_WATCHERS:
        return refused(command, f"{ticket.ref} has {MAX_WATCHERS} people copied already")
    call.session.add(Watcher(ticket_id=ticket.id, address=address, name=""))
    call.session.flush()
    outside = "" if call.config.is_employee(address) else " (outside the organisation)"
    add_event(call.session, ticket, "watcher", call.actor, f"copied {address}{outside}", call.now)
    return CommandResult(
        True,
        f"{command}: {address}{outside} is copied on {ticket.ref} from this reply on",
        True,
    )


def _cannot_copy(call: CommandCall, address: str) -> str:
    """Why ``address`` may not become a watcher of the ticket; empty when it may."""
    ticket, config = call.ticket, call.config
    if ticket.status == "closed":
        return f"{ticket.ref} is closed"
    if address in config.all_aliases():
        return f"{address} is one of our aliases"
    if address == ticket.requester:
        return f"{address} is the requester, who hears everything already"
    if config.is_member(address, ticket.department):
        return f"{address} is a member of {ticket.department} and follows it as one"
    if is_noreply(address):
        return f"{address} is a no-reply address"
    return ""


def drop_watcher(call: CommandCall, command: Command) -> CommandResult:
    """``#uncc ADDR``: stop copying someone; saying so twice is no error."""
    ticket, address = call.ticket, command.argument
    watcher = call.session.get(Watcher, (ticket.id, address))
    if watcher is None:
        return CommandResult(True, f"{command}: {address} was not copied on {ticket.ref}")
    call.session.delete(watcher)
    call.session.flush()
    add_event(call.session, ticket, "watcher", call.actor, f"no longer copied: {address}", call.now)
    return CommandResult(True, f"{command}: {address} is no longer copied on {ticket.ref}", True)
