"""Every reply command members can use, declared once (CONTRACT §5).

The order of ``COMMANDS`` is the order a refusal lists them in ("known: #resolve, …");
``help_order`` is the order of the assignment mail's list. A new command is one
declaration here plus its effect in ``aliasdesk.services.command_effects``.
"""

from __future__ import annotations

import re

from aliasdesk.domain.command_types import (
    N_,
    REQUESTER_OR_MEMBER,
    Command,
    CommandHelp,
    CommandSpec,
    first_word,
    note_words,
)
from aliasdesk.domain.languages import LANGUAGES, known_language
from aliasdesk.domain.refs import RefError, parse_ref
from aliasdesk.domain.states import Priority, Status

_ADDRESS_USAGE = {
    "cc": N_("usage: #cc name@example.com (one address)"),
    "uncc": N_("usage: #uncc name@example.com (one address)"),
}
_SETTABLE = (Status.OPEN.value, Status.PENDING.value, Status.RESOLVED.value)


def _status(name: str, argument: str) -> Command:
    """``#status pending vendor``: only pending takes words after it, saying who we wait on."""
    target, reason = first_word(argument)
    target = target.lower()
    if target not in _SETTABLE or (reason.strip() and target != Status.PENDING.value):
        return Command(name, argument, N_("usage: #status open|pending|resolved"))
    return Command(name, target, note=note_words(reason))


def _priority(name: str, argument: str) -> Command:
    if argument.lower() not in {p.value for p in Priority}:
        return Command(name, argument, N_("usage: #priority low|normal|high|urgent"))
    return Command(name, argument.lower())


def _assign(name: str, argument: str) -> Command:
    """``#assign <bob@…> note``: the member (brackets and case dropped), then the note."""
    member, note = first_word(argument)
    if not member.strip("<>"):
        return Command(name, argument, N_("usage: #assign <member address>"))
    return Command(name, member.strip("<>").lower(), note=note_words(note))


def _lang(name: str, argument: str) -> Command:
    """``#lang de``: one of the languages aliasdesk writes (``DE``, ``de-CH`` count)."""
    code = known_language(argument)
    if code is None:
        return Command(name, argument, f"usage: #lang {'|'.join(LANGUAGES)}")
    return Command(name, code)


def _merge(name: str, argument: str) -> Command:
    """``#merge HR-12``: the ticket this one's conversation moves into."""
    try:
        return Command(name, str(parse_ref(argument)))
    except RefError:
        return Command(name, argument, N_("usage: #merge KEY-N (e.g. #merge HR-12)"))


_DEPARTMENT_KEY = re.compile(r"^[A-Z][A-Z0-9]{0,9}$")


def _move(name: str, argument: str) -> Command:
    """``#move it``: a department key, as the routing file spells it (case ignored)."""
    key = argument.strip().upper()
    if not _DEPARTMENT_KEY.match(key):
        return Command(name, argument, N_("usage: #move DEPT (a department key, e.g. #move IT)"))
    return Command(name, key)


_ADDRESS = re.compile(r"^[^@\s<>,;\"()\[\]\\]{1,64}@[a-z0-9.-]{1,253}\.[a-z]{2,63}$")


def _address(name: str, argument: str) -> Command:
    """``#cc <erin@example.com>``: one plain address (brackets and case dropped); anything
    that could smuggle a second recipient or a header is refused."""
    address = argument.strip().strip("<>").strip().lower()
    if not _ADDRESS.match(address) or ".." in address:
        return Command(name, argument, _ADDRESS_USAGE[name])
    return Command(name, address)


SNIPPET_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
"""A saved answer's name: a plain file name, so it can never reach outside its folder."""


def _snippet(name: str, argument: str) -> Command:
    """``#reply parental-leave``: the name of a saved answer (case ignored)."""
    wanted = argument.strip().lower()
    if not SNIPPET_NAME.match(wanted):
        return Command(
            name,
            argument,
            N_("usage: #reply NAME (letters, digits, - and _, e.g. #reply vpn-reset)"),
        )
    return Command(name, wanted)


_DECLARED = (
    CommandSpec(
        "resolve",
        (CommandHelp("#resolve", "mark it resolved; the requester is asked for feedback"),),
        help_order=4,
        roles=REQUESTER_OR_MEMBER,
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
    CommandSpec(
        "merge",
        (
            CommandHelp(
                "#merge KEY-N",
                "move this conversation into that ticket of the department; "
                "the requester is told the new reference",
            ),
        ),
        help_order=9,
        validate=_merge,
    ),
    CommandSpec(
        "move",
        (
            CommandHelp(
                "#move DEPT",
                "hand the ticket to another department: a new reference there, an owner "
                "chosen by its rules, the requester told",
            ),
        ),
        help_order=10,
        validate=_move,
    ),
    CommandSpec(
        "cc",
        (
            CommandHelp(
                "#cc address",
                "copy someone on the ticket from this reply on (a watcher: they get what "
                "the requester gets, never internal notes or earlier mail)",
            ),
        ),
        help_order=11,
        validate=_address,
        applies_first=True,
    ),
    CommandSpec(
        "uncc",
        (CommandHelp("#uncc address", "stop copying them"),),
        help_order=12,
        validate=_address,
        applies_first=True,
    ),
    CommandSpec(
        "reply",
        (
            CommandHelp(
                "#reply NAME",
                "insert the saved answer NAME, filled in for this ticket, above your text",
            ),
        ),
        help_order=3,
        validate=_snippet,
        applies_first=True,
    ),
)

COMMANDS: dict[str, CommandSpec] = {spec.name: spec for spec in _DECLARED}
"""Command name (without ``#``) -> its declaration."""


def command_help() -> tuple[CommandHelp, ...]:
    """The assignment mail's command list, in ``help_order``."""
    ordered = sorted(COMMANDS.values(), key=lambda spec: spec.help_order)
    return tuple(line for spec in ordered for line in spec.help)
