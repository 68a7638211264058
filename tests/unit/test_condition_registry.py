"""Routing conditions are declared once: the schema accepts, and the router matches,
exactly the declared ``when`` keys."""

from __future__ import annotations

from pathlib import Path

from aliasdesk.domain.conditions import CONDITIONS
from aliasdesk.domain.organisation import CONDITION_FIELDS
from aliasdesk.domain.routing import MailFacts, route
from aliasdesk.settings.routing_file import check_routing, load_routing

_HEAD = """\
organisation: {name: Example Corp, domains: [example.com]}
departments:
  HR: {aliases: [hr@example.com], members: [alice@example.com]}
  IT: {aliases: [it@example.com], members: [carol@example.com]}
rules:
"""

# A value for each declared key that matches FACTS; a new condition needs one here.
_MATCHING: dict[str, str | dict[str, str]] = {
    "to": "hr@example.com",
    "from": "dave@example.com",
    "from_domain": "example.com",
    "subject": "(?i)payroll",
    "body": "payslip",
    "header": {"X-Priority": "^1"},
}
FACTS = MailFacts(
    to=("hr@example.com",),
    from_address="dave@example.com",
    subject="Payroll question",
    body="Where is my payslip?",
    headers=(("x-priority", "1 (Highest)"),),
)


def _when(value: str | dict[str, str]) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    return "{" + ", ".join(f'{name}: "{pattern}"' for name, pattern in value.items()) + "}"


def _file(tmp_path: Path, key: str, value: str | dict[str, str]) -> Path:
    path = tmp_path / "routing.yaml"
    rule = f"  - {{name: by {key}, when: {{{key}: {_when(value)}}}, then: {{department: IT}}}}\n"
    path.write_text(_HEAD + rule, encoding="utf-8")
    return path


def test_the_organisation_lists_exactly_the_declared_conditions() -> None:
    assert tuple(CONDITIONS) == CONDITION_FIELDS
    assert set(_MATCHING) == set(CONDITIONS), "give every declared condition a test value"


def test_every_declared_condition_is_accepted_and_matches(tmp_path: Path) -> None:
    for key, value in _MATCHING.items():
        path = _file(tmp_path, key, value)
        assert check_routing(path) == [], key
        decision = route(FACTS, load_routing(path))
        assert decision.departments == ("IT",), (key, decision.trace)
        assert decision.trace[0].startswith(f'rule 1 "by {key}": matched ({key}'), decision.trace


def test_an_undeclared_condition_is_refused_with_the_nearest_declared_one(tmp_path: Path) -> None:
    path = _file(tmp_path, "form", "dave@example.com")
    [error] = check_routing(path)
    assert error.field == "rules[0].when.form"
    assert error.message == 'unknown key; did you mean "from"?'
