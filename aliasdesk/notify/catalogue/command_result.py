"""The answer to commands: whoever wrote commands in a reply learns which were applied
and which were refused, and why."""

from __future__ import annotations

from collections.abc import Iterable

from aliasdesk.notify.catalogue.kind import DeliverySource, NotificationKind
from aliasdesk.notify.catalogue.samples import sample_ticket_to_owner
from aliasdesk.notify.kinds import CommandOutcome, CommandResultContext
from aliasdesk.notify.language import _


def _sample(department: str | None) -> CommandResultContext:
    return CommandResultContext(
        **sample_ticket_to_owner(department, status="open"),
        applied=(CommandOutcome("#status pending", "status is now pending"),),
        refused=(CommandOutcome("#assign zoe", "zoe is not a member of Human Resources"),),
    )


def _outcomes(lines: Iterable[str]) -> tuple[CommandOutcome, ...]:
    """Stored as "command: detail" lines; a line without detail names only the command."""
    result = []
    for line in lines:
        command, _, detail = line.partition(": ")
        result.append(CommandOutcome(command=command, detail=detail or command))
    return tuple(result)


def _build(source: DeliverySource) -> CommandResultContext:
    return CommandResultContext(
        **source.ticket_values(),
        applied=_outcomes(source.facts.get("applied", [])),
        refused=_outcomes(source.facts.get("refused", [])),
    )


COMMAND_RESULT = NotificationKind(
    name="command_result",
    context_type=CommandResultContext,
    audience="member",
    sample=_sample,
    build=_build,
    label="answer to commands",
    mentioned=lambda: _("the answer to their commands"),
)
