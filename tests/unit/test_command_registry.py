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


def test_only_note_keeps_a_reply_internal_and_the_requester_may_only_resolve() -> None:
    assert {name for name, spec in COMMANDS.items() if spec.marks_internal} == {"note"}
    # CONTRACT §5: the requester may use #resolve and #lang, a watcher #lang; nothing else.
    shared = {name: spec.roles for name, spec in COMMANDS.items() if spec.roles != ("member",)}
    assert shared == {
        "lang": ("member", "requester", "watcher"),
        "resolve": ("member", "requester"),
    }


def test_commands_that_shape_the_reply_itself_run_before_it_is_sent() -> None:
    first = {name for name, spec in COMMANDS.items() if spec.applies_first}
    assert first == {"reply", "cc", "uncc"}


def test_merge_takes_one_ticket_reference() -> None:
    assert COMMANDS["merge"].parse(" hr-12 ").argument == "HR-12"
    for bad in ("", "12", "HR-0", "HR-12 IT-3", "../HR-1"):
        assert COMMANDS["merge"].parse(bad).error == "usage: #merge KEY-N (e.g. #merge HR-12)"


def test_move_takes_one_department_key() -> None:
    assert COMMANDS["move"].parse("it").argument == "IT"
    for bad in ("", "IT HR", "it-support", "ÜBER"):
        assert COMMANDS["move"].parse(bad).error is not None


def test_cc_takes_exactly_one_plain_address() -> None:
    assert COMMANDS["cc"].parse("<Erin.Watts@Example.COM>").argument == "erin.watts@example.com"
    for bad in (
        "",
        "erin",
        "erin@example.com, mallory@evil.example",
        "erin@example.com mallory@evil.example",
        "erin@example.com\r\nBcc: mallory@evil.example",
        '"x"@example.com',
        "erin@@example.com",
        "erin@example..com",
    ):
        assert COMMANDS["cc"].parse(bad).error == "usage: #cc name@example.com (one address)", bad
    assert COMMANDS["uncc"].parse("erin@example.com").argument == "erin@example.com"


def test_a_saved_answer_name_cannot_name_a_path() -> None:
    assert COMMANDS["reply"].parse("VPN-Reset").argument == "vpn-reset"
    for bad in ("", "../etc/passwd", "a/b", "..", ".hidden", "x" * 65, "a b", "name.txt"):
        assert COMMANDS["reply"].parse(bad).error is not None, bad
