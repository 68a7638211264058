"""Routing decisions and their traces (CONTRACT §3)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from aliasdesk.domain.organisation import Condition, Department, RoutingConfig, Rule
from aliasdesk.domain.routing import NO_DEPARTMENT, MailFacts, route
from aliasdesk.settings.routing_file import load_routing

ROOT = Path(__file__).resolve().parents[2]

BASE = """\
organisation: {name: Example Corp, domains: [example.com]}
departments:
  HR: {aliases: [hr@example.com, people@example.com], members: [alice@example.com]}
  IT: {aliases: [it@example.com, helpdesk@example.com], members: [carol@example.com]}
  FAC: {aliases: [facilities@example.com], members: [frank@example.com]}
  FIN: {aliases: [finance@example.com], members: [grace@example.com]}
"""


def config_of(tmp_path: Path, extra: str = "", base: str = BASE) -> RoutingConfig:
    path = tmp_path / "routing.yaml"
    path.write_text(base + textwrap.dedent(extra), encoding="utf-8")
    return load_routing(path)


@pytest.fixture
def shipped() -> RoutingConfig:
    return load_routing(ROOT / "config/routing.yaml")


def mail(**facts: object) -> MailFacts:
    defaults: dict[str, object] = {"from_address": "dave@example.com", "subject": "Hello"}
    defaults.update(facts)
    return MailFacts(**defaults)  # type: ignore[arg-type]


# -- rules ----------------------------------------------------------------------------


def test_first_matching_rule_decides_alone(shipped: RoutingConfig) -> None:
    decision = route(mail(to=("hr@example.com",), subject="Payroll question"), shipped)
    assert decision.action == "ticket"
    assert decision.departments == ("FIN",)
    assert decision.department == "FIN"
    assert decision.priority == "high"
    assert decision.rule == "payroll goes to Finance"
    assert decision.trace[0].startswith('rule 1 "payroll goes to Finance": matched (')
    assert len([line for line in decision.trace if line.startswith("rule ")]) == 1


def test_all_conditions_must_match(shipped: RoutingConfig) -> None:
    decision = route(mail(to=("hr@example.com",), subject="Printer broken"), shipped)
    assert decision.rule is None
    assert decision.departments == ("HR",)
    assert decision.trace[0] == (
        'rule 1 "payroll goes to Finance": subject "(?i)payroll|salary" did not match '
        '"Printer broken"'
    )
    # the to condition alone (subject matching, to not) fails too
    decision = route(mail(to=("it@example.com",), subject="salary"), shipped)
    assert decision.departments == ("IT",)
    assert decision.trace[0] == (
        'rule 1 "payroll goes to Finance": to "hr@example.com" did not match '
        "the recipients (it@example.com)"
    )


def test_to_matches_any_recipient_header(shipped: RoutingConfig) -> None:
    for header in ("to", "cc", "delivered_to", "x_original_to"):
        facts = mail(**{header: ("HR@Example.com",)}, subject="Salary slip")
        assert route(facts, shipped).departments == ("FIN",), header


def test_ignore_rule(shipped: RoutingConfig) -> None:
    facts = mail(to=("hr@example.com",), from_address="news@mail.canteen.example.net")
    decision = route(facts, shipped)
    assert (decision.action, decision.departments, decision.priority) == ("ignore", (), None)
    assert decision.rule == "drop the canteen newsletter"
    assert decision.trace[-1].startswith("outcome: ignore")


def test_quarantine_rule(tmp_path: Path) -> None:
    config = config_of(
        tmp_path,
        """\
        rules:
          - name: spam
            when: {header: {X-Spam-Flag: "(?i)^yes"}}
            then: {action: quarantine}
        """,
    )
    facts = mail(to=("hr@example.com",), headers=(("x-spam-flag", "YES"),))
    decision = route(facts, config)
    assert (decision.action, decision.rule, decision.departments) == ("quarantine", "spam", ())
    missing = route(mail(to=("hr@example.com",)), config)
    assert missing.action == "ticket"
    assert missing.trace[0] == (
        'rule 1 "spam": header x-spam-flag "(?i)^yes" did not match: '
        "the mail has no x-spam-flag header"
    )


def test_plain_address_is_exact_regex_is_searched(tmp_path: Path) -> None:
    config = config_of(
        tmp_path,
        """\
        rules:
          - {name: exact, when: {from: boss@example.com}, then: {department: FIN}}
          - {name: regex, when: {from: "^ops-.*@example\\\\.com$"}, then: {department: FAC}}
        """,
    )
    assert route(mail(to=("hr@example.com",), from_address="BOSS@example.com"), config).rule == (
        "exact"
    )
    # a plain address never matches a longer address that contains it
    near = route(mail(to=("hr@example.com",), from_address="xboss@example.com.evil"), config)
    assert near.rule is None
    assert (
        near.trace[0]
        == 'rule 1 "exact": from "boss@example.com" did not match "xboss@example.com.evil"'
    )
    assert route(mail(to=("hr@example.com",), from_address="OPS-1@example.com"), config).rule == (
        "regex"
    )


def test_from_domain_plain_matches_subdomains_only(tmp_path: Path) -> None:
    config = config_of(
        tmp_path,
        """\
        rules:
          - {name: vendor, when: {from_domain: vendor.example}, then: {department: FIN}}
        """,
    )

    def rule_for(sender: str) -> str | None:
        return route(mail(to=("hr@example.com",), from_address=sender), config).rule

    assert rule_for("a@vendor.example") == "vendor"
    assert rule_for("a@Mail.Vendor.Example") == "vendor"
    assert rule_for("a@badvendor.example") is None
    assert rule_for("a@vendor.example.net") is None


def test_from_domain_regex(tmp_path: Path) -> None:
    config = config_of(
        tmp_path,
        """\
        rules:
          - {name: gov, when: {from_domain: "\\\\.gov$"}, then: {priority: urgent}}
        """,
    )
    decision = route(mail(to=("it@example.com",), from_address="x@agency.GOV"), config)
    assert (decision.rule, decision.departments, decision.priority) == ("gov", ("IT",), "urgent")


def test_missing_sender_fails_sender_conditions(tmp_path: Path) -> None:
    config = config_of(
        tmp_path, "rules: [{name: r, when: {from_domain: x.example}, then: {department: IT}}]\n"
    )
    decision = route(mail(to=("hr@example.com",), from_address=None), config)
    assert decision.departments == ("HR",)
    assert "the mail has no sender address" in decision.trace[0]


def test_body_rule_does_not_copy_the_body_into_the_trace(tmp_path: Path) -> None:
    config = config_of(
        tmp_path, "rules: [{name: pw, when: {body: '(?i)password'}, then: {department: IT}}]\n"
    )
    hit = route(mail(to=("hr@example.com",), body="I forgot my PASSWORD"), config)
    assert hit.departments == ("IT",)
    miss = route(mail(to=("hr@example.com",), body="secret stuff " * 10), config)
    assert miss.trace[0] == 'rule 1 "pw": body "(?i)password" did not match the body (130 chars)'
    assert "secret" not in " ".join(miss.trace)


def test_body_is_capped_before_matching(tmp_path: Path) -> None:
    config = config_of(
        tmp_path, "rules: [{name: tail, when: {body: 'needle'}, then: {department: IT}}]\n"
    )
    body = "x" * (70 * 1024) + "needle"
    assert route(mail(to=("hr@example.com",), body=body), config).rule is None


def test_ticket_rule_without_department_routes_by_alias(tmp_path: Path) -> None:
    config = config_of(
        tmp_path, "rules: [{name: vip, when: {from: ceo@example.com}, then: {priority: urgent}}]\n"
    )
    decision = route(mail(cc=("it@example.com",), from_address="ceo@example.com"), config)
    assert (decision.departments, decision.priority, decision.rule) == (("IT",), "urgent", "vip")
    assert 'rule "vip" names no department; routing by alias' in decision.trace


def test_header_rule_any_value_of_a_repeated_header(tmp_path: Path) -> None:
    config = config_of(
        tmp_path,
        "rules: [{name: h, when: {header: {X-Tag: '^b$'}}, then: {department: FAC}}]\n",
    )
    facts = mail(to=("hr@example.com",), headers=(("x-tag", "a"), ("x-tag", "b")))
    assert route(facts, config).departments == ("FAC",)
    facts = mail(to=("hr@example.com",), headers=(("x-tag", "a"), ("x-tag", "c")))
    assert "did not match any of 2 values of the x-tag header" in route(facts, config).trace[0]


# -- aliases --------------------------------------------------------------------------


def test_alias_order_to_cc_delivered_to_x_original_to(tmp_path: Path) -> None:
    config = config_of(tmp_path)
    facts = MailFacts(
        to=("someone@example.com", "facilities@example.com"),
        cc=("it@example.com",),
        delivered_to=("finance@example.com",),
        x_original_to=("hr@example.com",),
        from_address="dave@example.com",
    )
    decision = route(facts, config)
    assert decision.departments == ("FAC", "IT", "FIN", "HR")
    assert decision.reason == (
        "addressed to facilities@example.com (FAC), it@example.com (IT), "
        "finance@example.com (FIN), hr@example.com (HR)"
    )
    assert decision.trace == (
        "no rule matched; routing by alias",
        "alias: To facilities@example.com is department FAC",
        "alias: Cc it@example.com is department IT",
        "alias: Delivered-To finance@example.com is department FIN",
        "alias: X-Original-To hr@example.com is department HR",
        "alias: not a known alias: someone@example.com",
        "outcome: ticket in FAC, IT, FIN, HR",
    )


def test_never_two_tickets_in_one_department(tmp_path: Path) -> None:
    config = config_of(tmp_path)
    facts = mail(to=("hr@example.com", "people@example.com"), delivered_to=("HR@example.com",))
    decision = route(facts, config)
    assert decision.departments == ("HR",)
    assert "alias: To people@example.com is HR again (already chosen)" in decision.trace


def test_multi_department_first(tmp_path: Path) -> None:
    config = config_of(tmp_path, "multi_department: first\n")
    decision = route(mail(to=("it@example.com",), cc=("hr@example.com",)), config)
    assert decision.departments == ("IT",)
    assert "multi_department: first keeps IT, drops HR" in decision.trace


def test_multi_department_each(tmp_path: Path) -> None:
    config = config_of(tmp_path, "multi_department: each\n")
    decision = route(mail(to=("it@example.com",), cc=("hr@example.com",)), config)
    assert decision.departments == ("IT", "HR")


def test_default_department(tmp_path: Path) -> None:
    config = config_of(tmp_path, "default_department: FAC\n")
    decision = route(mail(to=("nobody@example.com",)), config)
    assert (decision.action, decision.departments, decision.rule) == ("ticket", ("FAC",), None)
    assert decision.reason == "not addressed to a known alias; default_department is FAC"


def test_no_alias_and_no_default_is_quarantined(tmp_path: Path) -> None:
    decision = route(mail(to=("nobody@example.com",)), config_of(tmp_path))
    assert (decision.action, decision.departments) == ("quarantine", ())
    assert decision.reason == NO_DEPARTMENT
    assert decision.reason == "no department: mail is not addressed to a known alias"
    assert decision.trace[-1] == f"outcome: quarantine ({NO_DEPARTMENT})"


def test_many_unknown_recipients_are_summarised(tmp_path: Path) -> None:
    facts = mail(to=(*(f"p{n}@example.com" for n in range(500)), "it@example.com"))
    decision = route(facts, config_of(tmp_path))
    assert decision.departments == ("IT",)
    assert decision.trace[-2] == (
        "alias: not a known alias: p0@example.com, p1@example.com, p2@example.com, "
        "p3@example.com, p4@example.com and 495 more"
    )
    assert len(decision.trace) == 4


def test_mail_without_recipients_or_anything(tmp_path: Path) -> None:
    decision = route(MailFacts(), config_of(tmp_path))
    assert decision.action == "quarantine"


# -- the trace ------------------------------------------------------------------------


def test_trace_has_one_line_per_rule_then_alias_stage_then_outcome(
    shipped: RoutingConfig,
) -> None:
    decision = route(mail(to=("it@example.com",), subject="Printer broken"), shipped)
    assert decision.trace == (
        'rule 1 "payroll goes to Finance": to "hr@example.com" did not match the recipients '
        "(it@example.com)",
        'rule 2 "drop the canteen newsletter": from_domain "canteen.example.net" did not match '
        '"example.com"',
        'rule 3 "outages are urgent": subject "(?i)urgent|outage" did not match "Printer broken"',
        "no rule matched; routing by alias",
        "alias: To it@example.com is department IT",
        "outcome: ticket in IT",
    )
    assert decision.reason == "addressed to it@example.com (IT)"


def test_trace_of_a_match_names_what_matched(shipped: RoutingConfig) -> None:
    decision = route(mail(to=("IT@example.com",), subject="Network OUTAGE"), shipped)
    assert decision.trace[2] == (
        'rule 3 "outages are urgent": matched (to "it@example.com" matched it@example.com; '
        'subject "(?i)urgent|outage" matched "Network OUTAGE")'
    )
    assert decision.trace[-1] == "outcome: ticket in IT, priority urgent"
    assert decision.reason == 'rule "outages are urgent" sends it to IT'


def test_long_values_are_shortened_in_the_trace(shipped: RoutingConfig) -> None:
    subject = "word " * 100
    decision = route(mail(to=("hr@example.com",), subject=subject), shipped)
    assert len(decision.trace[0]) < 200
    assert decision.trace[0].endswith('…"')


# -- the organisation helpers ---------------------------------------------------------


def test_organisation_helpers(shipped: RoutingConfig) -> None:
    assert shipped.department_for_alias(" Helpdesk@Example.com ") is shipped.departments["IT"]
    assert shipped.department_for_alias("alice@example.com") is None
    assert "invoices@example.com" in shipped.all_aliases()
    assert len(shipped.all_aliases()) == 7
    assert shipped.is_member("Alice@example.com", "HR")
    assert not shipped.is_member("alice@example.com", "IT")
    assert not shipped.is_member("alice@example.com", "NOPE")
    assert shipped.departments_of_member("frank@example.com") == ["FAC"]
    assert shipped.is_employee("x@sub.example.com")
    assert not shipped.is_employee("x@notexample.com")


def test_config_can_be_built_without_a_file() -> None:
    config = RoutingConfig(
        name="Inline",
        domains=("x.example",),
        departments={"IT": Department("IT", "IT", ("it@x.example",), ("a@x.example",))},
        rules=(Rule("r", (Condition.build("subject", "(?i)vpn"),), "IT", "high"),),
    )
    decision = route(mail(subject="VPN down"), config)
    assert (decision.departments, decision.priority) == (("IT",), "high")
