"""Every reply command members can use, declared once (CONTRACT §5).

The order of ``COMMANDS`` is the order a refusal lists them in ("known: #resolve, …");
``help_order`` is the order of the assignment mail's list. A new command is one
declaration here plus its effect in ``aliasdesk.services.command_effects``.
"""

from __future__ import annotations

from aliasdesk.domain.command_types import (
    Command,
    CommandHelp,
    CommandSpec,
    first_word,
    note_words,
)
from aliasdesk.domain.languages import LANGUAGES, known_language
from aliasdesk.domain.states import Priority, Status

_SETTABLE = (Status.OPEN.value, Status.PENDING.value, Status.RESOLVED.value)


def _status(name: str, argument: str) -> Command:
    """``#status pending vendor``: only pending takes words after it, saying who we wait on."""
    target, reason = first_word(argument)
    target = target.lower()
    if target not in _SETTABLE or (reason.strip() and target != Status.PENDING.value):
        return Command(name, argument, "usage: #status open|pending|resolved")
    return Command(name, target, note=note_words(reason))


def _priority(name: str, argument: str) -> Command:
    if argument.lower() not in {p.value for p in Priority}:
        return Command(name, argument, "usage: #priority low|normal|high|urgent")
    return Command(name, argument.lower())


def _assign(name: str, argument: str) -> Command:
    """``#assign <bob@…> note``: the member (brackets and case dropped), then the note."""
    member, note = first_word(argument)
    if not member.strip("<>"):
        return Command(name, argument, "usage: #assign <member address>")
    return Command(name, member.strip("<>").lower(), note=note_words(note))


def _lang(name: str, argument: str) -> Command:
    """``#lang de``: one of the languages aliasdesk writes (``DE``, ``de-CH`` count)."""
    code = known_language(argument)
    if code is None:
        return Command(name, argument, f"usage: #lang {'|'.join(LANGUAGES)}")
    return Command(name, code)


_DECLARED = (
    CommandSpec(
        "resolve",
        (CommandHelp("#resolve", "mark it resolved; the requester is asked for feedback"),),
        help_order=4,
    ),
    CommandSpec(
        "close",
        (CommandHelp("#close", "close it for good; a later reply opens a new ticket"),),
        help_order=5,
    ),
    CommandSpec(
        "status",
        (
            CommandHelp("#status open|pending|resolved", "set the status"),
            CommandHelp(
                "#status pending vendor",
                "on hold while a supplier (or whoever you name) owes us something",
            ),
        ),
        help_order=2,
        validate=_status,
    ),
    CommandSpec(
        "assign",
        (
            CommandHelp(
                "#assign <member> [note]",
                "hand the ticket over; the note goes to the new owner only",
            ),
        ),
        help_order=1,
        validate=_assign,
    ),
    CommandSpec("take", (CommandHelp("#take", "make yourself the owner"),), help_order=0),
    CommandSpec(
        "priority",
        (CommandHelp("#priority low|normal|high|urgent", "change the priority"),),
        help_order=6,
        validate=_priority,
    ),
    CommandSpec(
        "lang",
        (
            CommandHelp(
                "#lang " + "|".join(LANGUAGES),
                "write to the requester in this language from now on",
            ),
        ),
        help_order=8,
        validate=_lang,
        roles=("member", "requester", "watcher"),
    ),
    CommandSpec(
        "note",
        (CommandHelp("#note", "keep this reply internal: it is not sent to the requester"),),
        help_order=7,
        marks_internal=True,
    ),
)

COMMANDS: dict[str, CommandSpec] = {spec.name: spec for spec in _DECLARED}
"""Command name (without ``#``) -> its declaration."""


def command_help() -> tuple[CommandHelp, ...]:
    """The assignment mail's command list, in ``help_order``."""
    ordered = sorted(COMMANDS.values(), key=lambda spec: spec.help_order)
    return tuple(line for spec in ordered for line in spec.help)
