"""The routing file: every kind of mistake is reported as FILE:LINE: field.path: message."""

from __future__ import annotations

import textwrap
from datetime import timedelta
from pathlib import Path

import pytest

from aliasdesk.settings.errors import ConfigError, RoutingFileError
from aliasdesk.settings.routing_file import check_routing, load_routing

ROOT = Path(__file__).resolve().parents[2]

# Line numbers below refer to this text: keep it in sync when editing.
VALID = """\
organisation:
  name: Example Corp
  domains: [example.com]
departments:
  HR:
    name: Human Resources
    aliases: [hr@example.com, people@example.com]
    members: [alice@example.com, bob@example.com]
    assignment: round_robin
    sla: {first_response: 4h, resolution: 3d}
  IT:
    aliases: [it@example.com]
    members: [carol@example.com]
    assignment: least_loaded
rules:
  - name: payroll goes to Finance
    when: {to: hr@example.com, subject: "(?i)payroll|salary"}
    then: {department: IT, priority: high}
default_department: null
multi_department: each
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "routing.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def errors_of(tmp_path: Path, text: str) -> list[ConfigError]:
    path = write(tmp_path, text)
    errors = check_routing(path)
    assert all(error.path == str(path) for error in errors)
    return errors


def where(errors: list[ConfigError]) -> list[tuple[int, str]]:
    return [(error.line, error.field) for error in errors]


def only(errors: list[ConfigError]) -> ConfigError:
    assert len(errors) == 1, [str(error) for error in errors]
    return errors[0]


# -- valid files ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["config/routing.yaml", "config/examples/minimal.yaml", "config/examples/school.yaml"]
)
def test_shipped_files_load_clean(name: str) -> None:
    assert check_routing(ROOT / name) == []
    assert load_routing(ROOT / name).departments


def test_shipped_routing_file_has_the_documented_organisation() -> None:
    config = load_routing(ROOT / "config/routing.yaml")
    assert config.name == "Example Corp"
    assert list(config.departments) == ["HR", "IT", "FAC", "FIN"]
    assert config.departments["FAC"].assignment == "fixed"
    assert config.departments["FAC"].fixed_member == "frank@example.com"
    assert config.departments["IT"].sla_first_response == timedelta(hours=1)
    assert config.admins == ("ops@example.com",)
    assert config.default_department is None
    assert [rule.action for rule in config.rules] == ["ticket", "ignore", "ticket"]


def test_valid_file_builds_the_organisation(tmp_path: Path) -> None:
    config = load_routing(write(tmp_path, VALID))
    hr = config.departments["HR"]
    assert hr.aliases == ("hr@example.com", "people@example.com")
    assert hr.sla_first_response == timedelta(hours=4)
    assert hr.sla_resolution == timedelta(days=3)
    assert config.departments["IT"].name == "IT"  # name defaults to the key
    rule = config.rules[0]
    assert (rule.name, rule.department, rule.priority, rule.action) == (
        "payroll goes to Finance",
        "IT",
        "high",
        "ticket",
    )
    assert rule.line == 16
    assert config.source == str(tmp_path / "routing.yaml")


def test_defaults_when_optional_keys_are_left_out(tmp_path: Path) -> None:
    config = load_routing(
        write(
            tmp_path,
            """\
            organisation: {name: X}
            departments:
              IT: {aliases: [it@x.example], members: [a@x.example]}
              FAC: {aliases: [fac@x.example]}
            """,
        )
    )
    assert config.rules == ()
    assert config.multi_department == "each"
    assert config.default_department is None
    assert config.domains == () and config.admins == ()
    assert config.departments["IT"].assignment == "round_robin"
    assert config.departments["FAC"].assignment == "none"


def test_addresses_are_lower_cased(tmp_path: Path) -> None:
    config = load_routing(write(tmp_path, VALID.replace("hr@example.com,", "HR@Example.COM,")))
    assert config.department_for_alias("Hr@example.com") is config.departments["HR"]


def test_away_members_both_ways(tmp_path: Path) -> None:
    text = VALID.replace(
        "    members: [alice@example.com, bob@example.com]\n",
        "    members: [alice@example.com, {address: bob@example.com, away: true}, c@example.com]\n"
        "    away: [c@example.com]\n",
    )
    hr = load_routing(write(tmp_path, text)).departments["HR"]
    assert hr.members == ("alice@example.com", "bob@example.com", "c@example.com")
    assert hr.away == ("bob@example.com", "c@example.com")
    assert hr.available_members == ("alice@example.com",)


@pytest.mark.parametrize(
    ("department_away", "away"),
    [
        ("true", ("alice@example.com", "bob@example.com")),
        ("false", ("bob@example.com",)),
    ],
)
def test_a_whole_department_away(
    tmp_path: Path, department_away: str, away: tuple[str, ...]
) -> None:
    """CONTRACT §3: ``away: true`` on a department skips all its members; ``false`` leaves
    each member's own mark as it is."""
    text = VALID.replace(
        "    members: [alice@example.com, bob@example.com]\n",
        "    members: [alice@example.com, {address: bob@example.com, away: true}]\n"
        f"    away: {department_away}\n",
    )
    hr = load_routing(write(tmp_path, text)).departments["HR"]
    assert hr.away == away
    assert hr.available_members == tuple(m for m in hr.members if m not in away)


def test_a_department_away_that_is_neither_a_flag_nor_a_list(tmp_path: Path) -> None:
    text = VALID.replace(
        "    members: [alice@example.com, bob@example.com]\n",
        "    members: [alice@example.com, bob@example.com]\n    away: sometimes\n",
    )
    errors = check_routing(write(tmp_path, text))
    assert [e.field for e in errors] == ["departments.HR.away"]
    assert "expected true, false or a list" in errors[0].message


def test_languages_of_departments_and_members(tmp_path: Path) -> None:
    text = VALID.replace(
        "    members: [alice@example.com, bob@example.com]\n",
        "    members: [{address: alice@example.com, language: DE}, bob@example.com]\n"
        "    language: fr\n",
    )
    config = load_routing(write(tmp_path, text))
    hr, it = config.departments["HR"], config.departments["IT"]
    assert (hr.language, it.language) == ("fr", None)
    assert hr.language_of("Alice@example.com") == "de" and hr.language_of("bob@example.com") is None
    assert config.member_language("alice@example.com") == "de"


def test_an_unknown_language_is_pinned_to_its_line(tmp_path: Path) -> None:
    text = VALID.replace(
        "    members: [alice@example.com, bob@example.com]\n",
        "    members: [{address: alice@example.com, language: it}, bob@example.com]\n"
        "    language: klingon\n",
    )
    errors = errors_of(tmp_path, text)
    assert where(errors) == [
        (8, "departments.HR.members[0].language"),
        (9, "departments.HR.language"),
    ]
    assert "en, de, fr, es, nl" in errors[0].message


# -- file-level problems --------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    error = only(check_routing(path))
    assert str(error) == f"{path}:0: file: no such file"


def test_directory_instead_of_file(tmp_path: Path) -> None:
    assert only(check_routing(tmp_path)).message == "is a directory, not a file"


def test_empty_file(tmp_path: Path) -> None:
    path = write(tmp_path, "# only a comment\n")
    assert str(only(check_routing(path))) == f"{path}:1: file: the file is empty"


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "routing.yaml"
    path.write_bytes(b"organisation:\n  name: caf\xe9\n")
    error = only(check_routing(path))
    assert (error.line, error.field, error.message) == (2, "file", "is not UTF-8 text")


def test_yaml_syntax_error_has_its_line(tmp_path: Path) -> None:
    error = only(errors_of(tmp_path, "organisation:\n  name: [Example\ndepartments: {}\n"))
    assert (error.line, error.field) == (3, "yaml")
    assert error.message.startswith("invalid YAML: ")


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    error = only(errors_of(tmp_path, "- a\n- b\n"))
    assert (error.line, error.field) == (1, "document")


def test_load_raises_with_every_error(tmp_path: Path) -> None:
    path = write(tmp_path, VALID.replace("round_robin", "rr").replace("least_loaded", "ll"))
    with pytest.raises(RoutingFileError) as caught:
        load_routing(path)
    assert where(caught.value.errors) == [
        (9, "departments.HR.assignment"),
        (14, "departments.IT.assignment"),
    ]
    assert str(caught.value).splitlines() == [str(error) for error in caught.value.errors]


# -- schema problems: each names its line and field -----------------------------------


@pytest.mark.parametrize(
    ("old", "new", "line", "field", "message"),
    [
        ("  domains:", "  domain:", 3, "organisation.domain", 'did you mean "domains"?'),
        ("  HR:", "  hr:", 5, "departments.hr", "upper-case letters"),
        ("  HR:", "  HUMANRESOURCES:", 5, "departments.HUMANRESOURCES", "1 to 10"),
        ("    name: Human", "    nmae: Human", 6, "departments.HR.nmae", "unknown key"),
        ("people@example.com]", "people]", 7, "departments.HR.aliases[1]", "not an email"),
        (
            "[it@example.com]",
            "[hr@example.com]",
            12,
            "departments.IT.aliases[0]",
            "already an alias of HR (line 7)",
        ),
        ("[it@example.com]", "[]", 12, "departments.IT.aliases", "at least one alias"),
        ("[it@example.com]", "it@example.com", 12, "departments.IT.aliases", "expected a list"),
        ("bob@example.com]", "alice@example.com]", 8, "departments.HR.members[1]", "listed twice"),
        (
            "bob@example.com]",
            "hr@example.com]",
            8,
            "departments.HR.members[1]",
            "is an alias of HR",
        ),
        ("round_robin", "random", 9, "departments.HR.assignment", "round_robin | least_loaded"),
        ("round_robin", "fixed", 9, "departments.HR.assignment", "fixed:<member>"),
        (
            "round_robin",
            "fixed:dave@example.com",
            9,
            "departments.HR.assignment",
            "dave@example.com is not a member",
        ),
        (
            "first_response: 4h",
            "first_response: 4 hours",
            10,
            "departments.HR.sla.first_response",
            "is not a duration",
        ),
        (
            "resolution: 3d",
            "resolution: 1h",
            10,
            "departments.HR.sla.resolution",
            "shorter than first_response 4h",
        ),
        ("resolution: 3d", "resolved: 3d", 10, "departments.HR.sla.resolved", "unknown key"),
        (
            "    members: [carol@example.com]\n",
            "",
            13,
            "departments.IT.assignment",
            "least_loaded needs members",
        ),
        ("  - name: payroll", "  - nam: payroll", 16, "rules[0].nam", "unknown key"),
        ("to: hr@", "too: hr@", 17, "rules[0].when.too", 'did you mean "to"?'),
        (
            "(?i)payroll|salary",
            "(?i)payroll|(salary",
            17,
            "rules[0].when.subject",
            "invalid regular expression: missing ), unterminated subpattern at position 12",
        ),
        (
            'subject: "(?i)payroll|salary"',
            "subject: 42",
            17,
            "rules[0].when.subject",
            "got a number (42)",
        ),
        (
            'when: {to: hr@example.com, subject: "(?i)payroll|salary"}',
            "when: {}",
            17,
            "rules[0].when",
            "at least one condition",
        ),
        (
            "department: IT,",
            "department: FIN,",
            18,
            "rules[0].then.department",
            'unknown department "FIN"; known: HR, IT',
        ),
        (
            "priority: high",
            "priority: highest",
            18,
            "rules[0].then.priority",
            "low | normal | high | urgent",
        ),
        (
            "priority: high}",
            "action: drop}",
            18,
            "rules[0].then.action",
            "ticket | ignore | quarantine",
        ),
        (
            "priority: high}",
            "action: ignore}",
            18,
            "rules[0].then.department",
            "action ignore opens no ticket",
        ),
        (
            "then: {department: IT, priority: high}",
            "then: {}",
            18,
            "rules[0].then",
            "say what to do",
        ),
        (
            "default_department: null",
            "default_department: ZZ",
            19,
            "default_department",
            "unknown department",
        ),
        ("multi_department: each", "multi_department: all", 20, "multi_department", "each | first"),
        ("multi_department: each", "multi_department: each\nextra: 1", 21, "extra", "unknown key"),
        (
            "organisation:\n  name: Example Corp\n  domains: [example.com]\n",
            "organisation: Example Corp\n",
            1,
            "organisation",
            "expected a mapping",
        ),
        ("  name: Example Corp\n", "", 1, "organisation.name", "is required"),
        (
            "  domains: [example.com]",
            "  domains: [example]",
            3,
            "organisation.domains[0]",
            "not a domain name",
        ),
    ],
)
def test_each_mistake_is_pinned_to_its_line_and_field(
    tmp_path: Path, old: str, new: str, line: int, field: str, message: str
) -> None:
    assert old in VALID
    error = only(errors_of(tmp_path, VALID.replace(old, new, 1)))
    assert (error.line, error.field) == (line, field), str(error)
    assert message in error.message
    assert str(error) == f"{tmp_path / 'routing.yaml'}:{line}: {field}: {error.message}"


@pytest.mark.parametrize(
    ("text", "line", "field"),
    [
        ("organisation:\ndepartments: {IT: {aliases: [i@x.example]}}\n", 1, "organisation"),
        ("organisation: {name: X}\ndepartments:\n", 2, "departments"),
        ("organisation: {name: X}\ndepartments: {}\n", 2, "departments"),
        (
            "organisation: {name: ~}\ndepartments: {IT: {aliases: [i@x.example]}}\n",
            1,
            "organisation.name",
        ),
        ("organisation: {name: X}\ndepartments: {IT: ~}\n", 2, "departments.IT"),
        ("organisation: {name: X}\ndepartments: {IT: {aliases: ~}}\n", 2, "departments.IT.aliases"),
    ],
)
def test_null_where_a_value_is_needed(tmp_path: Path, text: str, line: int, field: str) -> None:
    error = only(errors_of(tmp_path, text))
    assert (error.line, error.field) == (line, field), str(error)


def test_missing_required_keys(tmp_path: Path) -> None:
    errors = errors_of(tmp_path, "rules: []\n")
    assert where(errors) == [(1, "departments"), (1, "organisation")]
    assert {error.message for error in errors} == {"is required"}


def test_duplicate_keys_are_all_reported(tmp_path: Path) -> None:
    text = VALID.replace(
        "    assignment: round_robin\n", "    assignment: round_robin\n    assignment: none\n"
    ).replace("multi_department: each\n", "multi_department: each\nmulti_department: first\n")
    errors = errors_of(tmp_path, text)
    assert where(errors) == [(10, "departments.HR.assignment"), (22, "multi_department")]
    assert errors[0].message == "duplicate key (first at line 9)"


def test_header_conditions(tmp_path: Path) -> None:
    text = VALID.replace(
        'subject: "(?i)payroll|salary"', 'header: {X-Priority: "^1", "Bad Name": x, X-Ok: "("}'
    )
    errors = errors_of(tmp_path, text)
    assert where(errors) == [
        (17, "rules[0].when.header.Bad Name"),
        (17, "rules[0].when.header.X-Ok"),
    ]
    good = VALID.replace('subject: "(?i)payroll|salary"', 'header: {X-Priority: "^1"}')
    rule = load_routing(write(tmp_path, good)).rules[0]
    assert [c.label for c in rule.conditions] == ["to", "header x-priority"]


def test_rule_names_must_be_unique(tmp_path: Path) -> None:
    text = VALID + (
        "rules_again: 1\n"  # an unknown key at the end, to check sorting by line
    )
    text = text.replace(
        "default_department",
        "  - {name: payroll goes to Finance, when: {body: x}, then: {priority: low}}\n"
        "default_department",
    )
    assert where(errors_of(tmp_path, text)) == [(19, "rules[1].name"), (22, "rules_again")]


def test_all_errors_are_reported_in_line_order(tmp_path: Path) -> None:
    text = """\
    organisation:
      name: X
      domain: [example.com]
    departments:
      IT:
        aliases: [it@example.com, bogus]
        members: [carol@example.com, {address: z@example.com, away: maybe}]
        away: [nobody@example.com]
        assignment: fixed:dave@example.com
        sla: {first_response: 4x}
    rules:
      - name: a
        when: {subject: "(unclosed"}
        then: {department: NOPE}
    default_department: ZZ
    multi_department: all
    """
    assert where(errors_of(tmp_path, text)) == [
        (3, "organisation.domain"),
        (6, "departments.IT.aliases[1]"),
        (7, "departments.IT.members[1].away"),
        (8, "departments.IT.away[0]"),
        (9, "departments.IT.assignment"),
        (10, "departments.IT.sla.first_response"),
        (13, "rules[0].when.subject"),
        (14, "rules[0].then.department"),
        (15, "default_department"),
        (16, "multi_department"),
    ]


def test_admins_are_addresses_and_not_aliases(tmp_path: Path) -> None:
    text = VALID + "admins: [ops@example.com, it@example.com, nobody]\n"
    assert where(errors_of(tmp_path, text)) == [(21, "admins[1]"), (21, "admins[2]")]
    config = load_routing(write(tmp_path, VALID + "admins: [OPS@example.com]\n"))
    assert config.admins == ("ops@example.com",)


def test_leads_read_their_department_and_are_no_aliases(tmp_path: Path) -> None:
    led = VALID.replace(
        "    assignment: least_loaded\n",
        "    assignment: least_loaded\n    leads: [Hanna@example.com, hr@example.com, nobody]\n",
    )
    assert where(errors_of(tmp_path, led)) == [
        (15, "departments.IT.leads[1]"),
        (15, "departments.IT.leads[2]"),
    ]
    good = VALID.replace(
        "    assignment: least_loaded\n",
        "    assignment: least_loaded\n    leads: [Hanna@example.com]\n",
    )
    config = load_routing(write(tmp_path, good + "admins: [ops@example.com]\n"))
    assert config.departments["IT"].leads == ("hanna@example.com",)
    assert config.departments["IT"].members == ("carol@example.com",), "a lead gets no tickets"
    assert config.dashboard_departments("HANNA@example.com") == ["IT"]
    assert config.dashboard_departments("alice@example.com") == ["HR"]
    assert config.dashboard_departments("ops@example.com") == ["HR", "IT"]
    assert config.dashboard_departments("dave@example.com") == []
    assert config.is_staff("hanna@example.com")


@pytest.mark.parametrize(
    "text",
    [
        "departments: !!python/object:os.system {}\n",
        "a: &x [*x]\n",
        "organisation: {name: X}\ndepartments: {IT: {aliases: [it@x.example], sla: 5}}\n",
        "organisation: {name: X}\ndepartments: [IT]\n",
        "organisation: {name: X}\ndepartments: {IT: {aliases: [[a]], members: {a: 1}}}\n",
        "organisation: {name: X}\ndepartments: {1: {aliases: [it@x.example]}, ~: 3}\n",
        "organisation: {name: X}\ndepartments: {IT: {aliases: [i@x.example]}}\nrules: {a: 1}\n",
        "organisation: {name: X}\ndepartments: {IT: {aliases: [i@x.example]}}\n"
        "rules: [3, {when: 1, then: []}]\n",
        "\t- tab\n",
        "{{{{",
    ],
)
def test_odd_files_never_raise_anything_but_routing_file_error(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, text)
    errors = check_routing(path)
    assert errors
    with pytest.raises(RoutingFileError):
        load_routing(path)


def test_leads_digest_opt_out_and_digest_schedule(tmp_path: Path) -> None:
    text = VALID.replace(
        "    members: [alice@example.com, bob@example.com]\n",
        "    members: [alice@example.com, {address: bob@example.com, digest: false}]\n"
        "    leads: [Hanna@example.com]\n",
    )
    config = load_routing(write(tmp_path, text + 'digest: "mon,wed 08:30"\n'))
    hr = config.departments["HR"]
    assert hr.leads == ("hanna@example.com",) and hr.members[1] == "bob@example.com"
    assert hr.wants_digest("alice@example.com") and not hr.wants_digest("Bob@example.com")
    assert config.is_staff("hanna@example.com") and not config.is_member("hanna@example.com", "HR")
    assert config.digest is not None and config.digest.text == "mon,wed 08:30"
    assert load_routing(write(tmp_path, text + "digest: off\n")).digest is None
    default = load_routing(write(tmp_path, text)).digest
    assert default is not None and default.text == "mon,tue,wed,thu,fri 07:00"


def test_leads_and_digest_mistakes_are_pinned(tmp_path: Path) -> None:
    text = VALID.replace(
        "    members: [alice@example.com, bob@example.com]\n",
        "    members: [{address: alice@example.com, digest: sometimes}]\n"
        "    leads: [it@example.com, nobody]\n",
    )
    errors = errors_of(tmp_path, text + 'digest: "mon-fry 07:00"\n')
    assert where(errors) == [
        (8, "departments.HR.members[0].digest"),
        (9, "departments.HR.leads[0]"),
        (9, "departments.HR.leads[1]"),
        (22, "digest"),
    ]
    assert "is an alias of IT; it cannot be a lead" in str(errors[1])
    assert '"fry" is not a weekday' in str(errors[3])
    assert "not a time of day" in str(only(errors_of(tmp_path, VALID + "digest: '25:00'\n")))


def test_retention_is_a_duration_of_at_least_a_day(tmp_path: Path) -> None:
    sla = "    sla: {first_response: 4h, resolution: 3d}\n"
    kept = load_routing(write(tmp_path, VALID.replace(sla, sla + "    retention: 365d\n")))
    assert kept.departments["HR"].retention == timedelta(days=365)
    assert kept.departments["IT"].retention is None
    for value, message in (("12h", "12h is shorter than a day"), ("soon", "not a duration")):
        error = only(errors_of(tmp_path, VALID.replace(sla, sla + f"    retention: {value}\n")))
        assert (error.line, error.field) == (11, "departments.HR.retention"), str(error)
        assert message in error.message
