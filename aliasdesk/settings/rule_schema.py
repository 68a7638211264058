"""The ``rules`` section of the routing file: names, ``when`` conditions and ``then``.

Which ``when`` keys exist, what their values must be and how they are built is read from
the declarations in ``aliasdesk.domain.conditions``; nothing here names a condition.
"""

from __future__ import annotations

import re

from aliasdesk.domain.conditions import CONDITIONS, ConditionKind
from aliasdesk.domain.organisation import ACTIONS, PRIORITIES, Condition, Rule
from aliasdesk.settings.schema_shapes import Located, ShapeChecks, value_kind

_RULE = ("name", "when", "then")
_WHEN = tuple(CONDITIONS)
_THEN = ("department", "priority", "action")


class RuleChecks(ShapeChecks):
    """Builds the rules; department references are checked against the departments read
    before them (``department_keys``)."""

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
            self.error(at, f"expected {wanted}, got {value_kind(at.value)}")
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
            self.error(at, f"expected {kind.expects}, got {value_kind(at.value)}")
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
