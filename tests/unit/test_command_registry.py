"""Reply commands are declared once: parsing, help text and effects all read the same list."""

from __future__ import annotations

from aliasdesk.domain.command_catalogue import COMMANDS, command_help
from aliasdesk.domain.commands import KNOWN, parse_commands, spec_of
from aliasdesk.notify.kinds import REPLY_COMMANDS, AssignmentContext
from aliasdesk.services.command_effects import EFFECTS


def test_every_declared_command_has_an_effect_and_every_effect_a_declaration() -> None:
    assert set(COMMANDS) - set(EFFECTS) == set(), "declared but nothing happens"
    assert set(EFFECTS) - set(COMMANDS) == set(), "an effect nobody can call"


def test_every_command_is_explained_in_the_assignment_mail() -> None:
    for name, spec in COMMANDS.items():
        assert spec.name == name
        assert spec.help, f"#{name} has no help line"
        assert all(line.syntax.startswith(f"#{name}") for line in spec.help)
    orders = [spec.help_order for spec in COMMANDS.values()]
    assert len(set(orders)) == len(orders), "two commands share a place in the list"
    listed = {line.syntax.split()[0] for line in REPLY_COMMANDS}
    assert listed == {f"#{name}" for name in COMMANDS}


def test_the_assignment_mail_lists_the_commands_from_their_declarations() -> None:
    assert command_help() == REPLY_COMMANDS
    assert AssignmentContext.__dataclass_fields__["commands"].default == command_help()
    assert [line.syntax for line in command_help()][:2] == ["#take", "#assign <member> [note]"]


def test_an_unknown_command_names_every_declared_one() -> None:
    [command] = parse_commands("#frobnicate now").commands
    assert tuple(COMMANDS) == KNOWN
    assert command.error == "unknown command #frobnicate; known: #" + ", #".join(COMMANDS)
    assert spec_of(command) is None


def test_each_declaration_checks_its_own_argument() -> None:
    for name, spec in COMMANDS.items():
        [command] = parse_commands(f"#{name.upper()}").commands
        assert spec_of(command) is spec
    assert COMMANDS["priority"].parse("urgent").argument == "urgent"
    assert COMMANDS["priority"].parse("soon").error == "usage: #priority low|normal|high|urgent"
    assert COMMANDS["take"].parse("").error is None


def test_only_note_keeps_a_reply_internal_and_only_members_give_commands() -> None:
    assert {name for name, spec in COMMANDS.items() if spec.marks_internal} == {"note"}
    shared = {name: spec.roles for name, spec in COMMANDS.items() if spec.roles != ("member",)}
    assert shared == {"lang": ("member", "requester", "watcher")}
