"""Which department(s) a new mail belongs to, and a trace that says why (CONTRACT §3).

Routing is a pure function of the mail's facts and the routing file, so ``rules explain``
can replay it on any mail without touching anything. Rules are tried in file order and
the first that matches decides alone; with none, the known aliases among the recipients
pick the departments. Every step is written to the trace, because "why did my mail go
to Facilities?" is the question admins ask most.

Regexes come from an admin's file and run against text from strangers, and Python's
``re`` has no timeout, so the text fed to them is capped (see the ``*_LIMIT`` values).
"""

from __future__ import annotations

from dataclasses import dataclass

from aliasdesk.domain.organisation import Condition, Department, RoutingConfig, Rule

BODY_LIMIT = 64 * 1024
SUBJECT_LIMIT = 2 * 1024
HEADER_LIMIT = 8 * 1024
ADDRESS_LIMIT = 320  # RFC 5321: 64 + 1 + 255, with room to spare
SHOWN_LIMIT = 60  # how much of a value a trace line quotes
NO_DEPARTMENT = "no department: mail is not addressed to a known alias"

_RECIPIENT_HEADERS = (
    ("to", "To"),
    ("cc", "Cc"),
    ("delivered_to", "Delivered-To"),
    ("x_original_to", "X-Original-To"),
)


@dataclass(frozen=True)
class MailFacts:
    """What routing may look at. Addresses lower-cased; header names lower-cased."""

    to: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()
    delivered_to: tuple[str, ...] = ()
    x_original_to: tuple[str, ...] = ()
    from_address: str | None = None
    subject: str = ""
    body: str = ""
    headers: tuple[tuple[str, str], ...] = ()

    def recipients(self) -> tuple[str, ...]:
        """To, Cc, Delivered-To, X-Original-To: the order aliases are considered in."""
        return self.to + self.cc + self.delivered_to + self.x_original_to


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
        hit, failure = _check_condition(condition, facts)
        if hit is None:
            return failure, matched
        matched.append(f"{_describe(condition)} matched {hit}")
    return None, matched


def _check_condition(condition: Condition, facts: MailFacts) -> tuple[str | None, str]:
    """(what matched, quoted; or None and the reason it did not)."""
    kind = condition.field
    if kind == "to":
        return _match_addresses(condition, facts.recipients(), "the recipients")
    if kind in ("from", "from_domain"):
        return _match_sender(condition, facts.from_address)
    if kind == "subject":
        return _match_text(condition, [facts.subject[:SUBJECT_LIMIT]], "the subject")
    if kind == "body":
        if _search(condition, facts.body[:BODY_LIMIT]):
            return "the body", ""
        return None, f"{_describe(condition)} did not match the body ({len(facts.body)} chars)"
    wanted = condition.header_name
    values = [value[:HEADER_LIMIT] for name, value in facts.headers if name == wanted]
    if not values:
        return None, f"{_describe(condition)} did not match: the mail has no {wanted} header"
    return _match_text(condition, values, f"the {wanted} header")


def _match_addresses(
    condition: Condition, addresses: tuple[str, ...], what: str
) -> tuple[str | None, str]:
    for address in addresses:
        if _address_matches(condition, address):
            return address.lower(), ""
    listed = ", ".join(addresses[:5]) + (", …" if len(addresses) > 5 else "")
    return None, f"{_describe(condition)} did not match {what} ({listed or 'none'})"


def _match_sender(condition: Condition, sender: str | None) -> tuple[str | None, str]:
    if not sender:
        return None, f"{_describe(condition)} did not match: the mail has no sender address"
    value = sender.lower()
    if condition.field == "from_domain":
        value = value.rpartition("@")[2]
        if condition.address is not None:
            exact = value == condition.address or value.endswith("." + condition.address)
            return (value, "") if exact else _miss(condition, value)
    if _address_matches(condition, value):
        return value, ""
    return _miss(condition, value)


def _address_matches(condition: Condition, address: str) -> bool:
    if condition.address is not None:
        return address.strip().lower() == condition.address
    return _search(condition, address[:ADDRESS_LIMIT])


def _match_text(condition: Condition, values: list[str], what: str) -> tuple[str | None, str]:
    for value in values:
        if _search(condition, value):
            return _quote(value), ""
    if len(values) == 1:
        return _miss(condition, values[0])
    return None, f"{_describe(condition)} did not match any of {len(values)} values of {what}"


def _search(condition: Condition, text: str) -> bool:
    return condition.regex is not None and condition.regex.search(text) is not None


def _miss(condition: Condition, value: str) -> tuple[None, str]:
    return None, f"{_describe(condition)} did not match {_quote(value)}"


def _describe(condition: Condition) -> str:
    return f"{condition.label} {_quote(condition.pattern)}"


def _quote(text: str) -> str:
    """A short, one-line, quoted rendering of ``text`` for a trace line."""
    flat = " ".join(text.split())
    if len(flat) > SHOWN_LIMIT:
        flat = flat[: SHOWN_LIMIT - 1] + "…"
    return f'"{flat}"'
