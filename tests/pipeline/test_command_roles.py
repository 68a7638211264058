"""A command's declaration says who may give it; the effect refuses anyone else."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from aliasdesk.db.models import Ticket
from aliasdesk.domain.commands import parse_commands
from aliasdesk.runtime import Runtime
from aliasdesk.services.command_effects import apply_command
from tests.pipeline.test_conversation import open_request
from tests.support.smtp_script import ScriptedSmtpServer


def test_a_command_from_a_role_its_declaration_does_not_name_changes_nothing(
    runtime: Runtime, smtp: ScriptedSmtpServer
) -> None:
    open_request(runtime, smtp)
    [close, priority] = parse_commands("#close\n#priority high").commands
    config = runtime.routing.current()
    now = datetime.now(UTC)
    with runtime.db.unit_of_work() as session:
        ticket = session.scalars(select(Ticket)).one()
        refused = apply_command(
            session,
            ticket,
            close,
            actor="dave@example.com",
            config=config,
            cause="test",
            now=now,
            role="requester",
        )
        assert not refused.applied and not refused.changed
        assert refused.message == "#close: not for the requester; nothing was changed"
        assert ticket.status == "new"
        applied = apply_command(
            session, ticket, priority, actor="alice@example.com", config=config, cause="t", now=now
        )
        assert applied.applied and applied.changed and ticket.priority == "high"
        watcher = apply_command(
            session,
            ticket,
            priority,
            actor="erin@example.com",
            config=config,
            cause="w",
            now=now,
            role="watcher",
        )
        assert not watcher.applied and ticket.priority == "high"
