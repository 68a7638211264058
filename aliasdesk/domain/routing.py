"""Which department(s) a new mail belongs to, and a trace that says why (CONTRACT §3).

Routing is a pure function of the mail's facts and the routing file, so ``rules explain``
can replay it on any mail without touching anything. Rules are tried in file order and
the first that matches decides alone; with none, the known aliases among the recipients
pick the departments. Every step is written to the trace, because "why did my mail go
to Facilities?" is the question admins ask most.

What each ``when`` key means is declared in ``aliasdesk.domain.conditions``.
"""

from __future__ import annotations

from dataclasses import dataclass

from aliasdesk.domain.conditions import MailFacts
from aliasdesk.domain.organisation import Department, RoutingConfig, Rule

__all__ = ["NO_DEPARTMENT", "MailFacts", "RouteDecision", "route"]

NO_DEPARTMENT = "no department: mail is not addressed to a known alias"

_RECIPIENT_HEADERS = (
    ("to", "To"),
    ("cc", "Cc"),
    ("delivered_to", "Delivered-To"),
    ("x_original_to", "X-Original-To"),
)


@dataclass(frozen=True)
class RouteDecision:
    """The outcome: ``ticket`` in ``departments``, or ``ignore`` / ``quarantine``."""

    action: str
    departments: tuple[str, ...]
    priority: str | None
    rule: str | None
    reason: str
    trace: tuple[str, ...]

    @property
    def department(self) -> str | None:
        """The first (or only) department, as ``rules explain --json`` reports it."""
        return self.departments[0] if self.departments else None


def route(facts: MailFacts, config: RoutingConfig) -> RouteDecision:
    """Decide where a new mail goes; never raises on odd mail."""
    trace: list[str] = []
    for number, rule in enumerate(config.rules, start=1):
        failure, matched = _check_rule(rule, facts)
        head = f'rule {number} "{rule.name}"'
        if failure is not None:
            trace.append(f"{head}: {failure}")
            continue
        trace.append(f"{head}: matched ({'; '.join(matched)})")
        return _apply_rule(rule, facts, config, trace)
    trace.append("no rule matched; routing by alias")
    return _route_by_alias(facts, config, trace, rule=None, priority=None)


def _apply_rule(
    rule: Rule, facts: MailFacts, config: RoutingConfig, trace: list[str]
) -> RouteDecision:
    if rule.action in ("ignore", "quarantine"):
        reason = f'rule "{rule.name}": {rule.action}'
        trace.append(f"outcome: {rule.action} ({reason})")
        return RouteDecision(rule.action, (), None, rule.name, reason, tuple(trace))
    if rule.department is None:
        trace.append(f'rule "{rule.name}" names no department; routing by alias')
        return _route_by_alias(facts, config, trace, rule=rule.name, priority=rule.priority)
    reason = f'rule "{rule.name}" sends it to {rule.department}'
    return _ticket((rule.department,), rule.priority, rule.name, reason, trace)


def _route_by_alias(
    facts: MailFacts,
    config: RoutingConfig,
    trace: list[str],
    rule: str | None,
    priority: str | None,
) -> RouteDecision:
    chosen: list[tuple[str, Department]] = []
    others: list[str] = []
    for attribute, header in _RECIPIENT_HEADERS:
        for address in getattr(facts, attribute):
            department = config.department_for_alias(address)
            if department is None:
                others.append(address)
                continue
            if any(dept.key == department.key for _, dept in chosen):
                trace.append(
                    f"alias: {header} {address} is {department.key} again (already chosen)"
                )
                continue
            trace.append(f"alias: {header} {address} is department {department.key}")
            chosen.append((address.lower(), department))
    if others:
        shown = ", ".join(others[:5]) + (f" and {len(others) - 5} more" if len(others) > 5 else "")
        trace.append(f"alias: not a known alias: {shown}")
    if len(chosen) > 1 and config.multi_department == "first":
        dropped = ", ".join(dept.key for _, dept in chosen[1:])
        trace.append(f"multi_department: first keeps {chosen[0][1].key}, drops {dropped}")
        chosen = chosen[:1]
    if chosen:
        keys = tuple(dept.key for _, dept in chosen)
        reason = "addressed to " + ", ".join(f"{alias} ({dept.key})" for alias, dept in chosen)
        return _ticket(keys, priority, rule, reason, trace)
    return _no_alias(config, trace, rule, priority)


def _no_alias(
    config: RoutingConfig, trace: list[str], rule: str | None, priority: str | None
) -> RouteDecision:
    default = config.default_department
    if default is not None:
        trace.append(f"alias: no known alias among the recipients; default_department is {default}")
        reason = f"not addressed to a known alias; default_department is {default}"
        return _ticket((default,), priority, rule, reason, trace)
    trace.append("alias: no known alias among the recipients and default_department is null")
    trace.append(f"outcome: quarantine ({NO_DEPARTMENT})")
    return RouteDecision("quarantine", (), None, rule, NO_DEPARTMENT, tuple(trace))


def _ticket(
    keys: tuple[str, ...], priority: str | None, rule: str | None, reason: str, trace: list[str]
) -> RouteDecision:
    shown = f", priority {priority}" if priority else ""
    trace.append(f"outcome: ticket in {', '.join(keys)}{shown}")
    return RouteDecision("ticket", keys, priority, rule, reason, tuple(trace))


def _check_rule(rule: Rule, facts: MailFacts) -> tuple[str | None, list[str]]:
    """(why the rule failed or None, what each condition matched)."""
    matched: list[str] = []
    for condition in rule.conditions:
        hit, failure = condition.check(facts)
        if hit is None:
            return failure, matched
        matched.append(f"{condition.describe()} matched {hit}")
    return None, matched
