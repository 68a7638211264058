"""What each reply command does to a ticket, keyed by the name its declaration has.

The declarations (name, validation, help text) live in ``aliasdesk.domain``, which knows
no database; the effects need one, so they are here. ``EFFECTS`` must have exactly the
names of ``aliasdesk.domain.command_catalogue.COMMANDS`` (a test checks both ways).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlalchemy.orm import Session

from aliasdesk.db.models import Ticket
from aliasdesk.domain.commands import Command, spec_of
from aliasdesk.domain.organisation import RoutingConfig
from aliasdesk.notify.language import _
from aliasdesk.notify.snippets import SnippetError, SnippetRequest, fill_snippet
from aliasdesk.services.command_call import CommandCall, Effect, refused
from aliasdesk.services.handover import merge_ticket, move_ticket
from aliasdesk.services.languages import choose_own_language
from aliasdesk.services.mail_facts import person_name
from aliasdesk.services.refusals import NOT_FOR_ROLE
from aliasdesk.services.tickets import add_event
from aliasdesk.services.transitions import (
    CommandResult,
    change_owner,
    change_status,
    member_address,
)
from aliasdesk.services.watchers import copy_watcher, drop_watcher
from aliasdesk.settings.shipped import snippet_dir

__all__ = ["EFFECTS", "CommandCall", "Effect", "apply_command"]

SNIPPET_LANGUAGES = ("en",)
"""Where a saved answer is looked for after the requester's own language (the ticket's)."""


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
    actor_name: str = "",
    role: str = "member",
    snippet_dir: Path | None = None,
) -> CommandResult:
    """Carry out one command from someone in ``role``; it is refused, changing nothing,
    when it is invalid or its declaration does not let that role give it."""
    if command.error:
        return CommandResult(False, f"{command}: {_(command.error)}")
    spec, effect = spec_of(command), EFFECTS.get(command.name)
    if spec is None or effect is None:
        return CommandResult(False, f"{command}: " + _("not understood"))
    if role not in spec.roles:
        why = _(NOT_FOR_ROLE.get(role, NOT_FOR_ROLE["watcher"]))
        return CommandResult(False, f"{command}: {why}")
    call = CommandCall(session, ticket, actor, config, cause, now, quiet, actor_name, snippet_dir)
    return effect(call, command)


def _keep_internal(call: CommandCall, command: Command) -> CommandResult:
    """``#note``: the reply itself is kept internal by the conversation; nothing else."""
    kept = _("kept as an internal note, not sent to the requester")
    return CommandResult(True, f"#note: {kept}")


def _status_to(target: str | None) -> Effect:
    """The effect of a status command: to ``target``, or to the argument when None."""

    def effect(call: CommandCall, command: Command) -> CommandResult:
        result = change_status(
            call.session,
            call.ticket,
            target or command.argument,
            actor=call.actor,
            config=call.config,
            cause=call.cause,
            now=call.now,
            quiet=call.quiet,
            waiting_on=command.note,
            actor_name=call.actor_name,
        )
        return CommandResult(result.applied, f"{command}: {result.message}", result.changed)

    return effect


def _change_priority(call: CommandCall, command: Command) -> CommandResult:
    ticket = call.ticket
    old = ticket.priority
    if old == command.argument:
        already = _("priority was %(priority)s already") % {"priority": old}
        return CommandResult(True, f"{command}: {already}")
    ticket.priority = command.argument
    add_event(
        call.session, ticket, "priority", call.actor, f"{old} -> {command.argument}", call.now
    )
    now = _("priority is now %(priority)s") % {"priority": command.argument}
    return CommandResult(True, f"{command}: {now}", True)


def _take(call: CommandCall, command: Command) -> CommandResult:
    return _give(call, command, call.actor)


def _assign(call: CommandCall, command: Command) -> CommandResult:
    department = call.ticket.department
    return _give(call, command, member_address(call.config, department, command.argument))


def _give(call: CommandCall, command: Command, member: str) -> CommandResult:
    """Make ``member`` the owner, if they are one of the ticket's department."""
    ticket = call.ticket
    if not call.config.is_member(member, ticket.department):
        why = _(
            "%(member)s is not a member of %(department)s, so the ticket cannot be given "
            "to them; nothing was changed"
        ) % {"member": member, "department": ticket.department}
        return CommandResult(False, f"{command}: {why}")
    if ticket.owner == member:
        already = _("%(member)s owns %(ref)s already") % {"member": member, "ref": ticket.ref}
        return CommandResult(True, f"{command}: {already}")
    change_owner(
        call.session,
        ticket,
        member,
        actor=call.actor,
        config=call.config,
        cause=call.cause,
        now=call.now,
        note=command.note,
        actor_name=call.actor_name,
    )
    owns = _("%(member)s now owns %(ref)s") % {"member": member, "ref": ticket.ref}
    return CommandResult(True, f"{command}: {owns}", True)


def _language(call: CommandCall, command: Command) -> CommandResult:
    """``#lang``: the requester or a watcher chooses for themselves (every ticket, from
    now on); a member chooses for the requester of this ticket."""
    ticket, code = call.ticket, command.argument
    if call.config.is_member(call.actor, ticket.department):
        who = ticket.requester
    else:
        who = call.actor
        choose_own_language(call.session, call.actor, code, call.now)
    if who == ticket.requester:
        ticket.language = code
    add_event(call.session, ticket, "note", call.actor, f"language for {who}: {code}", call.now)
    done = _("mail to %(address)s is now written in %(language)s") % {
        "address": who,
        "language": code,
    }
    return CommandResult(True, f"{command}: {done}", True)


def _insert_snippet(call: CommandCall, command: Command) -> CommandResult:
    """``#reply NAME``: the saved answer, filled in for this ticket, goes into the reply."""
    ticket, config = call.ticket, call.config
    department = config.departments.get(ticket.department)
    languages = (ticket.language, *SNIPPET_LANGUAGES) if ticket.language else SNIPPET_LANGUAGES
    request = SnippetRequest(command.argument, ticket.department, languages)
    fields = {
        "ref": ticket.ref,
        "subject": ticket.subject,
        "department": ticket.department,
        "department_name": department.name if department else ticket.department,
        "requester_name": person_name(config, ticket.requester, ticket.requester_name),
        "owner_name": person_name(config, ticket.owner) if ticket.owner else "",
        "member_name": person_name(config, call.actor, call.actor_name),
    }
    try:
        text = fill_snippet(call.snippet_dir or snippet_dir(), request, fields)
    except SnippetError as error:
        return refused(command, str(error))
    inserted = _("saved answer %(name)s inserted") % {"name": command.argument}
    return CommandResult(True, f"{command}: {inserted}", text=text)


EFFECTS: dict[str, Effect] = {
    "resolve": _status_to("resolved"),
    "close": _status_to("closed"),
    "status": _status_to(None),
    "assign": _assign,
    "take": _take,
    "priority": _change_priority,
    "note": _keep_internal,
    "lang": _language,
    "merge": merge_ticket,
    "move": move_ticket,
    "cc": copy_watcher,
    "uncc": drop_watcher,
    "reply": _insert_snippet,
}
"""Command name -> what it does."""
