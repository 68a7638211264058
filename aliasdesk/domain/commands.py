"""Reply commands (``#resolve``, ``#assign bob@…``): parsed from lines of their own at the top.

Only leading lines count, so a ``#close`` quoted further down, or written mid-sentence,
never changes a ticket by accident.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from aliasdesk.domain.states import Priority, Status

_COMMAND_LINE = re.compile(r"^#([a-z]+)\b[ \t]*(.*)$", re.IGNORECASE)
KNOWN = ("resolve", "close", "status", "assign", "take", "priority", "note")


NOTE_LIMIT = 1000
"""Characters kept of the words after ``#assign <member>`` or ``#status pending``."""


@dataclass(frozen=True, slots=True)
class Command:
    """One command line; ``note`` is what follows the argument of ``#assign <member> …``
    (a handover note for the new owner) or ``#status pending …`` (who we wait on)."""

    name: str
    argument: str = ""
    error: str | None = None
    note: str = ""

    def __str__(self) -> str:
        return " ".join(part for part in (f"#{self.name}", self.argument, self.note) if part)


@dataclass(frozen=True, slots=True)
class CommandBlock:
    commands: tuple[Command, ...]
    remaining_text: str

    @property
    def is_note(self) -> bool:
        return any(c.name == "note" and c.error is None for c in self.commands)


def parse_commands(text: str) -> CommandBlock:
    """Split the leading command lines (blank lines between them allowed) from the rest."""
    lines = text.splitlines()
    commands: list[Command] = []
    index = 0
    while index < len(lines):
        stripped = lines[index].strip()
        if not stripped:
            index += 1
            continue
        match = _COMMAND_LINE.match(stripped)
        if match is None:
            break
        commands.append(_validate(match.group(1).lower(), match.group(2).strip()))
        index += 1
    return CommandBlock(tuple(commands), "\n".join(lines[index:]).strip())


def _validate(name: str, argument: str) -> Command:
    if name not in KNOWN:
        return Command(name, argument, f"unknown command #{name}; known: #" + ", #".join(KNOWN))
    if name == "status":
        return _status(argument)
    if name == "priority":
        values = {p.value for p in Priority}
        if argument.lower() not in values:
            return Command(name, argument, "usage: #priority low|normal|high|urgent")
        return Command(name, argument.lower())
    if name == "assign":
        member, note = _first_word(argument)
        if not member.strip("<>"):
            return Command(name, argument, "usage: #assign <member address>")
        return Command(name, member.strip("<>").lower(), note=_note(note))
    return Command(name, argument)


def _status(argument: str) -> Command:
    """``#status pending vendor``: only pending takes words after it, saying who we wait on."""
    target, reason = _first_word(argument)
    target = target.lower()
    allowed = {Status.OPEN.value, Status.PENDING.value, Status.RESOLVED.value}
    if target not in allowed or (reason.strip() and target != Status.PENDING.value):
        return Command("status", argument, "usage: #status open|pending|resolved")
    return Command("status", target, note=_note(reason))


def _first_word(argument: str) -> tuple[str, str]:
    words = argument.split(maxsplit=1)
    return (words[0], words[1]) if len(words) == 2 else (argument.strip(), "")


def _note(words: str) -> str:
    """Words a member wrote after a command, on one line and of a sensible length."""
    return " ".join(words.split())[:NOTE_LIMIT]
