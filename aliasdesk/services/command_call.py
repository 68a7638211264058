"""One command being carried out: who gives it, on which ticket, when, and with what.

Kept apart from ``aliasdesk.services.command_effects`` so the modules holding larger
effects (handing a ticket over, its watchers) can take it without importing the table of
all effects.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy.orm import Session

from aliasdesk.db.models import Ticket
from aliasdesk.domain.commands import Command
from aliasdesk.domain.organisation import RoutingConfig
from aliasdesk.notify.language import _
from aliasdesk.services.transitions import CommandResult


@dataclass(frozen=True)
class CommandCall:
    """Who gives a command on which ticket, and when; ``actor_name`` is the display name
    of their mail, for the mail the command causes; ``snippet_dir`` is where ``#reply``
    finds saved answers (None: the shipped ones)."""

    session: Session
    ticket: Ticket
    actor: str
    config: RoutingConfig
    cause: str
    now: datetime
    quiet: bool = False
    actor_name: str = ""
    snippet_dir: Path | None = None

    @property
    def domain(self) -> str:
        """The organisation's domain, for the Message-IDs of the mail a command causes."""
        return self.config.domains[0] if self.config.domains else "aliasdesk.invalid"


Effect = Callable[[CommandCall, Command], CommandResult]


def refused(command: Command, why: str) -> CommandResult:
    """A command that changes nothing, with the reason for whoever gave it."""
    return CommandResult(False, f"{command}: " + _("%(why)s; nothing was changed") % {"why": why})
