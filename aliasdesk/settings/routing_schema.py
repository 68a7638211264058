"""The routing file's schema: walking the loaded YAML and building a RoutingConfig.

Every check records a ConfigError with the line ruamel.yaml kept for the value and the
field path, and carries on, so an admin sees every problem of a file at once.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from functools import partial
from typing import Any, TypeVar

from aliasdesk.domain.conditions import CONDITIONS, ConditionKind
from aliasdesk.domain.durations import format_duration, parse_duration
from aliasdesk.domain.organisation import (
    ACTIONS,
    MULTI_DEPARTMENT,
    PLAIN_ADDRESS,
    PLAIN_DOMAIN,
    PRIORITIES,
    Condition,
    Department,
    RoutingConfig,
    Rule,
)
from aliasdesk.settings.errors import ConfigError

DEPARTMENT_KEY = re.compile(r"[A-Z][A-Z0-9]{0,9}")

_TOP = ("organisation", "departments", "rules", "default_department", "multi_department", "admins")
_ORGANISATION = ("name", "domains")
_DEPARTMENT = ("name", "aliases", "members", "away", "assignment", "sla")
_MEMBER = ("address", "away", "name")
_SLA = ("first_response", "resolution")
_RULE = ("name", "when", "then")
_WHEN = tuple(CONDITIONS)
_THEN = ("department", "priority", "action")
_ASSIGNMENT_HELP = "round_robin | least_loaded | fixed:<member> | none"
T = TypeVar("T")
U = TypeVar("U")
_KEY_HELP = "a department key is 1 to 10 upper-case letters or digits after a letter (HR, FAC)"


def join_field(field: str, key: object) -> str:
    return f"{field}.{key}" if field else str(key)


def _kind(value: object) -> str:
    """How a wrong value is named in a message."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return f"a number ({value})"
    if isinstance(value, str):
        flat = " ".join(value.split())
        return f'"{flat}"' if len(flat) <= 60 else f'"{flat[:59]}…"'
    if isinstance(value, list):
        return "a list"
    return "a mapping" if isinstance(value, dict) else type(value).__name__


@dataclass(frozen=True)
class Located:
    """A value with the line and field path it came from, so errors can point at it."""

    value: Any
    line: int
    field: str

    def __getitem__(self, key: object) -> Located:
        """The value under ``key`` of this mapping (None when absent), at the key's line."""
        return Located(self.value.get(key), self._line(key), join_field(self.field, key))

    def has(self, key: str) -> bool:
        return isinstance(self.value, dict) and self.value.get(key) is not None

    def items(self) -> list[Located]:
        return [
            Located(item, self._line(index), f"{self.field}[{index}]")
            for index, item in enumerate(self.value)
        ]

    def _line(self, key: object) -> int:
        try:
            lc = self.value.lc
            position = lc.item(key) if isinstance(self.value, list) else lc.key(key)
            return int(position[0]) + 1
        except (AttributeError, KeyError, IndexError, TypeError):
            return self.line


class SchemaBuilder:
    """Walks the loaded data once, collecting every error and the values it can build."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.errors: list[ConfigError] = []
        self.department_keys: set[str] = set()
        self.alias_owner: dict[str, tuple[str, int]] = {}
        self.people: list[tuple[Located, str]] = []  # members and admins: must not be aliases

    def error(self, at: Located, message: str) -> None:
        field = at.field or "document"  # the top level has no field name of its own
        self.errors.append(ConfigError(self.source, at.line, field, message))

    # -- generic shapes -------------------------------------------------------------

    def given(
        self,
        at: Located,
        key: str,
        parse: Callable[[Located], T],
        default: U,
        null_too: bool = False,
    ) -> T | U:
        """``parse`` the value under ``key``; ``default`` when the key is absent.

        An explicit null counts as absent for optional keys; with ``null_too`` it is parsed
        (and so reported) instead, for keys that are required or must not be null.
        """
        present = key in at.value if null_too else at.has(key)
        return parse(at[key]) if present else default

    def mapping(
        self, at: Located, allowed: tuple[str, ...], required: tuple[str, ...] = ()
    ) -> bool:
        """Check ``at`` is a mapping with no unknown key and every required key."""
        if not isinstance(at.value, dict):
            self.error(at, f"expected a mapping ({', '.join(allowed)}), got {_kind(at.value)}")
            return False
        suggested: set[str] = set()
        for key in at.value:
            if key not in allowed:
                close = difflib.get_close_matches(str(key), allowed, n=1)
                hint = f'did you mean "{close[0]}"?' if close else f"use {', '.join(allowed)}"
                self.error(at[key], f"unknown key; {hint}")
                suggested.update(close)
        for key in required:
            # A misspelt key was already reported with the right name as a suggestion.
            if key not in at.value and key not in suggested:
                self.error(Located(None, at.line, join_field(at.field, key)), "is required")
        return True

    def text(self, at: Located) -> str | None:
        if not isinstance(at.value, str) or not at.value.strip():
            self.error(at, f"expected non-empty text, got {_kind(at.value)}")
            return None
        return str(at.value).strip()

    def items(self, at: Located, example: str) -> list[Located]:
        if not isinstance(at.value, list):
            self.error(at, f"expected a list, e.g. [{example}], got {_kind(at.value)}")
            return []
        return at.items()

    def address(self, at: Located) -> str | None:
        text = self.text(at)
        if text is not None and not PLAIN_ADDRESS.fullmatch(text):
            self.error(at, f'"{text}" is not an email address (expected name@domain)')
            return None
        return text.lower() if text else None

    def addresses(self, at: Located) -> list[tuple[str, Located]]:
        found: list[tuple[str, Located]] = []
        for item in self.items(at, "someone@example.com"):
            address = self.address(item)
            if address is not None and any(address == known for known, _ in found):
                self.error(item, f"{address} is listed twice")
            elif address is not None:
                found.append((address, item))
        return found

    def choice(self, at: Located, allowed: tuple[str, ...]) -> str | None:
        if not isinstance(at.value, str) or at.value not in allowed:
            self.error(at, f"must be one of {' | '.join(allowed)}, got {_kind(at.value)}")
            return None
        return str(at.value)

    def department_ref(self, at: Located) -> str | None:
        if not isinstance(at.value, str) or at.value not in self.department_keys:
            known = ", ".join(sorted(self.department_keys)) or "none"
            self.error(at, f"unknown department {_kind(at.value)}; known: {known}")
            return None
        return str(at.value)

    # -- the document ---------------------------------------------------------------

    def build(self, top: Located) -> RoutingConfig | None:
        if not self.mapping(top, _TOP, required=("organisation", "departments")):
            return None
        name, domains = self.given(top, "organisation", self.organisation, (None, []), True)
        departments = self.given(top, "departments", self.departments, {}, True)
        rules = self.given(top, "rules", self.rules, [])
        default = self.given(top, "default_department", self.department_ref, None)
        multi = self.given(top, "multi_department", self.multi_department, "each", True)
        admins = self.given(top, "admins", self.addresses, [])
        self.people.extend((item, "an admin") for _, item in admins)
        self.check_people()
        if self.errors or name is None or multi is None:
            return None
        emails = tuple(address for address, _ in admins)
        parts = (tuple(domains), departments, tuple(rules), default, multi, emails)
        return RoutingConfig(name, *parts, self.source)

    def multi_department(self, at: Located) -> str | None:
        return self.choice(at, MULTI_DEPARTMENT)

    def organisation(self, at: Located) -> tuple[str | None, list[str]]:
        if not self.mapping(at, _ORGANISATION, required=("name",)):
            return None, []
        name = self.text(at["name"]) if "name" in at.value else None
        domains: list[str] = []
        for item in self.given(at, "domains", self.domain_items, []):
            domain = self.text(item)
            if domain is not None and not PLAIN_DOMAIN.fullmatch(domain):
                self.error(item, f'"{domain}" is not a domain name (e.g. example.com)')
            elif domain is not None:
                domains.append(domain.lower())
        return name, domains

    def domain_items(self, at: Located) -> list[Located]:
        return self.items(at, "example.com")

    def check_people(self) -> None:
        """Aliases deliver to aliasdesk itself: using one as a person would make a mail loop."""
        for at, role in self.people:
            owner = self.alias_owner.get(str(at.value).strip().lower())
            if owner is not None:
                self.error(
                    at, f"{str(at.value).strip()} is an alias of {owner[0]}; it cannot be {role}"
                )

    # -- departments ----------------------------------------------------------------

    def departments(self, at: Located) -> dict[str, Department]:
        if not isinstance(at.value, dict) or not at.value:
            self.error(at, f"expected a mapping of departments (HR: …), got {_kind(at.value)}")
            return {}
        self.department_keys = {key for key in at.value if isinstance(key, str)}
        built: dict[str, Department] = {}
        for key in at.value:
            if not isinstance(key, str) or not DEPARTMENT_KEY.fullmatch(key):
                self.error(at[key], _KEY_HELP)
            department = self.department(str(key), at[key])
            if department is not None:
                built[department.key] = department
        return built

    def department(self, key: str, at: Located) -> Department | None:
        if not self.mapping(at, _DEPARTMENT, required=("aliases",)):
            return None
        name = self.text(at["name"]) if "name" in at.value else key
        aliases = self.aliases(key, at["aliases"]) if "aliases" in at.value else []
        members, away, names = self.members(at)
        default = ("round_robin" if members else "none", None)
        assign = partial(self.assignment, members=members)
        assignment, fixed = self.given(at, "assignment", assign, default, True)
        first, resolution = self.given(at, "sla", self.sla, (None, None))
        people = (tuple(aliases), tuple(members), tuple(away))
        department = Department(key, name or key, *people, assignment, fixed, first, resolution)
        return replace(department, member_names=tuple(names.items()))

    def aliases(self, key: str, at: Located) -> list[str]:
        if isinstance(at.value, list) and not at.value:
            self.error(at, "a department needs at least one alias")
        result: list[str] = []
        for address, item in self.addresses(at):
            if address in self.alias_owner:
                owner, owner_line = self.alias_owner[address]
                self.error(item, f"{address} is already an alias of {owner} (line {owner_line})")
                continue
            self.alias_owner[address] = (key, item.line)
            result.append(address)
        return result

    def members(self, department: Located) -> tuple[list[str], list[str], dict[str, str]]:
        """Member addresses, those marked away (``away: […]`` or ``{away: true}``) and the
        names given as ``{address: …, name: Alice Hart}``."""
        members: list[str] = []
        away: list[str] = []
        names: dict[str, str] = {}
        for entry in self.given(department, "members", self.member_items, []):
            at, is_away = self.member(entry)
            address = self.address(at) if at is not None else None
            if address in members:
                self.error(entry, f"{address} is listed twice")
            elif address is not None and at is not None:
                members.append(address)
                away.extend([address] if is_away else [])
                self.people.append((at, "a member"))
                name = self.member_name(entry)
                names.update({address: name} if name else {})
        for address, item in self.given(department, "away", self.addresses, []):
            if address not in members:
                self.error(item, f"{address} is not a member of this department")
            elif address not in away:
                away.append(address)
        return members, away, names

    def member_items(self, at: Located) -> list[Located]:
        return self.items(at, "bob@example.com")

    def member(self, entry: Located) -> tuple[Located | None, bool]:
        """The address of one ``members`` entry: a plain address or ``{address:, away:}``."""
        if not isinstance(entry.value, dict):
            return entry, False
        if not self.mapping(entry, _MEMBER, required=("address",)) or "address" not in entry.value:
            return None, False
        away = entry["away"]
        if away.value not in (None, True, False):
            self.error(away, f"expected true or false, got {_kind(away.value)}")
        return entry["address"], away.value is True

    def member_name(self, entry: Located) -> str | None:
        """The optional ``name`` of a ``{address: …}`` member: what mail calls them."""
        if not isinstance(entry.value, dict) or "name" not in entry.value:
            return None
        name = self.text(entry["name"])
        return " ".join(name.split()) if name else None

    def assignment(self, at: Located, members: list[str]) -> tuple[str, str | None]:
        value = at.value.strip() if isinstance(at.value, str) else at.value
        if value == "fixed" or (isinstance(value, str) and value.startswith("fixed:")):
            member = value.removeprefix("fixed").removeprefix(":").strip().lower()
            if not member:
                self.error(at, "name the member: fixed:<member>, e.g. fixed:frank@example.com")
            elif member not in members:
                self.error(at, f"{member} is not a member of this department")
            return "fixed", member or None
        if value not in ("round_robin", "least_loaded", "none"):
            self.error(at, f"must be {_ASSIGNMENT_HELP}, got {_kind(at.value)}")
            return "none", None
        if value != "none" and not members:
            self.error(at, f"{value} needs members; add members or use none")
        return str(value), None

    def sla(self, at: Located) -> tuple[timedelta | None, timedelta | None]:
        if not self.mapping(at, _SLA):
            return None, None
        parsed: dict[str, timedelta] = {}
        for key in (key for key in _SLA if key in at.value):
            try:
                parsed[key] = parse_duration(at.value[key])
            except ValueError as error:
                self.error(at[key], str(error))
        first, resolution = parsed.get("first_response"), parsed.get("resolution")
        if first is not None and resolution is not None and resolution < first:
            shorter = f"{format_duration(resolution)} is shorter than first_response"
            self.error(at["resolution"], f"{shorter} {format_duration(first)}")
        return first, resolution

    # -- rules ----------------------------------------------------------------------

    def rules(self, at: Located) -> list[Rule]:
        built: list[Rule] = []
        names: dict[str, int] = {}
        for item in self.items(at, "{name: …, when: {…}, then: {…}}"):
            rule = self.rule(item)
            if rule is None:
                continue
            if rule.name in names:
                taken = f'"{rule.name}" is already the name of the rule at line {names[rule.name]}'
                self.error(item["name"], taken)
            names.setdefault(rule.name, item.line)
            built.append(rule)
        return built

    def rule(self, at: Located) -> Rule | None:
        if not self.mapping(at, _RULE, required=_RULE):
            return None
        name = self.text(at["name"]) if "name" in at.value else None
        conditions = self.conditions(at["when"]) if "when" in at.value else None
        then = self.then(at["then"]) if "then" in at.value else None
        if name is None or conditions is None or then is None:
            return None
        department, priority, action = then
        return Rule(name, tuple(conditions), department, priority, action, at.line)

    def conditions(self, at: Located) -> list[Condition] | None:
        """The ``when`` mapping: each key as its declaration in ``CONDITIONS`` says."""
        if not self.mapping(at, _WHEN):
            return None
        if not at.value:
            self.error(at, "a rule needs at least one condition")
            return None
        built: list[Condition | None] = []
        for key in at.value:
            kind = CONDITIONS.get(key) if isinstance(key, str) else None
            if kind is not None and kind.keyed_by is not None:
                built.extend(self.keyed_conditions(kind, at[key]))
            elif kind is not None:
                built.append(self.condition(kind, at[key], None))
        ok = all(key in _WHEN for key in at.value) and None not in built
        return [condition for condition in built if condition is not None] if ok else None

    def keyed_conditions(self, kind: ConditionKind, at: Located) -> list[Condition | None]:
        """A keyed condition (``header: {X-Priority: …}``): one condition per valid key."""
        if not isinstance(at.value, dict) or not at.value:
            wanted = f"a mapping of {kind.key_name} to regex"
            self.error(at, f"expected {wanted}, got {_kind(at.value)}")
            return [None]
        built: list[Condition | None] = []
        for name in at.value:
            if not isinstance(name, str) or kind.keyed_by is None:
                valid = False
            else:
                valid = kind.keyed_by.fullmatch(name) is not None
            if not valid:
                self.error(at[name], f"not a valid {kind.key_name}")
                built.append(None)
            else:
                built.append(self.condition(kind, at[name], str(name)))
        return built

    def condition(self, kind: ConditionKind, at: Located, key: str | None) -> Condition | None:
        if not isinstance(at.value, str) or not at.value:
            self.error(at, f"expected {kind.expects}, got {_kind(at.value)}")
            return None
        try:
            return Condition.build(kind.name, str(at.value), key)
        except re.error as error:
            where = f" at position {error.pos}" if error.pos is not None else ""
            self.error(at, f"invalid regular expression: {error.msg}{where}")
            return None

    def then(self, at: Located) -> tuple[str | None, str | None, str] | None:
        if not self.mapping(at, _THEN):
            return None
        if not at.value:
            self.error(at, "say what to do: department, priority and/or action")
            return None
        before = len(self.errors)
        action = self.choice(at["action"], ACTIONS) if "action" in at.value else "ticket"
        priority = self.choice(at["priority"], PRIORITIES) if "priority" in at.value else None
        department = self.department_ref(at["department"]) if "department" in at.value else None
        for key in ("department", "priority"):
            if action in ("ignore", "quarantine") and key in at.value:
                self.error(at[key], f"a rule with action {action} opens no ticket; remove {key}")
        if len(self.errors) > before or action is None:
            return None
        return department, priority, action
