"""What a reply command is: one parsed line, and the declaration that gives it meaning.

A :class:`CommandSpec` says everything about a command that needs no database: its name,
who may give it, how its argument is checked and how the assignment mail explains it.
What it does to a ticket is declared separately, in ``aliasdesk.services.command_effects``,
keyed by the same name, so this package stays free of I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

NOTE_LIMIT = 1000
"""Characters kept of the words after ``#assign <member>`` or ``#status pending``."""

MEMBERS_ONLY = ("member",)
"""Who may give a command by default: a verified member of the ticket's department."""

REQUESTER_OR_MEMBER = ("member", "requester")
"""A command the requester may give on their own ticket too (``#resolve``: "solved")."""


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
class CommandHelp:
    """One line of the command list in the assignment mail: how to write it, what it does."""

    syntax: str
    meaning: str


def take_as_written(name: str, argument: str) -> Command:
    """The validation of a command that needs no argument: whatever follows is kept."""
    return Command(name, argument)


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """A reply command as members see it.

    ``validate`` turns the words after ``#name`` into a :class:`Command` (with ``error``
    set when they make no sense); ``help`` is what the assignment mail lists, at
    ``help_order`` among the others; ``roles`` are the roles (as ``role_of`` names them)
    whose mail may give it. No command counts as the department's first response: the
    status mail it may cause is automatic, and only a member's own words answer.
    ``applies_first`` marks a command carried out before the reply it came with is stored
    and relayed: its effect writes into that reply (``#reply NAME``) or changes who gets it
    (``#cc``, ``#uncc``).
    """

    name: str
    help: tuple[CommandHelp, ...]
    help_order: int
    validate: Callable[[str, str], Command] = take_as_written
    marks_internal: bool = False
    applies_first: bool = False
    roles: tuple[str, ...] = MEMBERS_ONLY

    def parse(self, argument: str) -> Command:
        """The command as written with this argument, checked."""
        return self.validate(self.name, argument)


def first_word(argument: str) -> tuple[str, str]:
    """``"bob the rest"`` -> ``("bob", "the rest")``."""
    words = argument.split(maxsplit=1)
    return (words[0], words[1]) if len(words) == 2 else (argument.strip(), "")


def note_words(words: str) -> str:
    """Words a member wrote after a command, on one line and of a sensible length."""
    return " ".join(words.split())[:NOTE_LIMIT]


def N_(message: str) -> str:
    """Mark a refusal's text for the mail catalog (Babel extracts ``N_``) and leave it as
    it is: the domain knows no language; whoever shows the text translates it."""
    return message
