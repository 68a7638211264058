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
from aliasdesk.notify.language import _
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
        already = _("%(address)s is copied on %(ref)s already")
        return CommandResult(
            True, f"{command}: " + already % {"address": address, "ref": ticket.ref}
        )
    count = call.session.scalar(
        select(func.count()).select_from(Watcher).where(Watcher.ticket_id == ticket.id)
    )
    if (count or 0) >= MAX_WATCHERS:
        full = _("%(ref)s has %(count)s people copied already")
        return refused(command, full % {"ref": ticket.ref, "count": MAX_WATCHERS})
    call.session.add(Watcher(ticket_id=ticket.id, address=address, name=""))
    call.session.flush()
    outside = "" if call.config.is_employee(address) else " (outside the organisation)"
    add_event(call.session, ticket, "watcher", call.actor, f"copied {address}{outside}", call.now)
    copied = (
        _("%(address)s is copied on %(ref)s from this reply on")
        if not outside
        else _("%(address)s (outside the organisation) is copied on %(ref)s from this reply on")
    )
    return CommandResult(
        True, f"{command}: " + copied % {"address": address, "ref": ticket.ref}, True
    )


def _cannot_copy(call: CommandCall, address: str) -> str:
    """Why ``address`` may not become a watcher of the ticket; empty when it may."""
    ticket, config = call.ticket, call.config
    if ticket.status == "closed":
        return _("%(ref)s is closed") % {"ref": ticket.ref}
    if address in config.all_aliases():
        return _("%(address)s is one of our aliases") % {"address": address}
    if address == ticket.requester:
        return _("%(address)s is the requester, who hears everything already") % {
            "address": address
        }
    if config.is_member(address, ticket.department):
        return _("%(address)s is a member of %(department)s and follows it as one") % {
            "address": address,
            "department": ticket.department,
        }
    if is_noreply(address):
        return _("%(address)s is a no-reply address") % {"address": address}
    return ""


def drop_watcher(call: CommandCall, command: Command) -> CommandResult:
    """``#uncc ADDR``: stop copying someone; saying so twice is no error."""
    ticket, address = call.ticket, command.argument
    watcher = call.session.get(Watcher, (ticket.id, address))
    if watcher is None:
        was_not = _("%(address)s was not copied on %(ref)s")
        return CommandResult(
            True, f"{command}: " + was_not % {"address": address, "ref": ticket.ref}
        )
    call.session.delete(watcher)
    call.session.flush()
    add_event(call.session, ticket, "watcher", call.actor, f"no longer copied: {address}", call.now)
    dropped = _("%(address)s is no longer copied on %(ref)s")
    return CommandResult(
        True, f"{command}: " + dropped % {"address": address, "ref": ticket.ref}, True
    )
