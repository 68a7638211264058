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


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    argument: str = ""
    error: str | None = None

    def __str__(self) -> str:
        return f"#{self.name} {self.argument}".strip()


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
        allowed = {Status.OPEN.value, Status.PENDING.value, Status.RESOLVED.value}
        if argument.lower() not in allowed:
            return Command(name, argument, "usage: #status open|pending|resolved")
        return Command(name, argument.lower())
    if name == "priority":
        values = {p.value for p in Priority}
        if argument.lower() not in values:
            return Command(name, argument, "usage: #priority low|normal|high|urgent")
        return Command(name, argument.lower())
    if name == "assign":
        if not argument or " " in argument:
            return Command(name, argument, "usage: #assign <member address>")
        return Command(name, argument.strip("<>").lower())
    return Command(name, argument)
