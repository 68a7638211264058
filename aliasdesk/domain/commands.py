"""Reply commands (``#resolve``, ``#assign bob@…``): parsed from lines of their own at the top.

Only leading lines count, so a ``#close`` quoted further down, or written mid-sentence,
never changes a ticket by accident.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from aliasdesk.domain.command_catalogue import COMMANDS
from aliasdesk.domain.command_types import NOTE_LIMIT, Command, CommandSpec

__all__ = ["KNOWN", "NOTE_LIMIT", "Command", "CommandBlock", "parse_commands", "spec_of"]

_COMMAND_LINE = re.compile(r"^#([a-z]+)\b[ \t]*(.*)$", re.IGNORECASE)
KNOWN = tuple(COMMANDS)


def spec_of(command: Command) -> CommandSpec | None:
    """The declaration of a parsed command; None for one nobody declared."""
    return COMMANDS.get(command.name)


@dataclass(frozen=True, slots=True)
class CommandBlock:
    commands: tuple[Command, ...]
    remaining_text: str

    @property
    def is_note(self) -> bool:
        """Whether a valid command asks for the reply to stay internal (``#note``)."""
        return any(
            spec.marks_internal
            for c in self.commands
            if c.error is None and (spec := spec_of(c)) is not None
        )


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
    spec = COMMANDS.get(name)
    if spec is None:
        return Command(name, argument, f"unknown command #{name}; known: #" + ", #".join(KNOWN))
    return spec.parse(argument)
