"""The routing file's schema: walking the loaded YAML and building a RoutingConfig.

The generic checks are in ``schema_shapes`` and the rules section in ``rule_schema``.

Every check records a ConfigError with the line ruamel.yaml kept for the value and the
field path, and carries on, so an admin sees every problem of a file at once.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta
from functools import partial

from aliasdesk.domain.calendars import ROUND_THE_CLOCK
from aliasdesk.domain.durations import format_duration, parse_duration
from aliasdesk.domain.languages import LANGUAGES
from aliasdesk.domain.organisation import MULTI_DEPARTMENT, PLAIN_DOMAIN, Department, RoutingConfig
from aliasdesk.domain.schedules import (
    DEFAULT_DIGEST,
    DEFAULT_WEEKLY_REPORT,
    DailySchedule,
    parse_schedule,
)
from aliasdesk.settings.calendar_schema import CalendarChecks
from aliasdesk.settings.rule_schema import RuleChecks
from aliasdesk.settings.schema_shapes import Located, join_field, value_kind

__all__ = ["DEPARTMENT_KEY", "Located", "SchemaBuilder", "join_field"]

DEPARTMENT_KEY = re.compile(r"[A-Z][A-Z0-9]{0,9}")

_TOP = (
    "organisation",
    "departments",
    "rules",
    "default_department",
    "multi_department",
    "admins",
    "calendars",
    "digest",
    "weekly_report",
)
_ORGANISATION = ("name", "domains")
_DEPARTMENT = (
    "name",
    "aliases",
    "members",
    "away",
    "assignment",
    "sla",
    "calendar",
    "leads",
    "language",
    "retention",
)
_MEMBER = ("address", "away", "name", "language", "digest")
_LANGUAGE_HELP = "a language aliasdesk writes: " + ", ".join(LANGUAGES)
_ASSIGNMENT_HELP = "round_robin | least_loaded | fixed:<member> | none"
_KEY_HELP = "a department key is 1 to 10 upper-case letters or digits after a letter (HR, FAC)"


class SchemaBuilder(RuleChecks, CalendarChecks):
    """Walks the loaded data once, collecting every error and the values it can build."""

    # -- the document ---------------------------------------------------------------

    def build(self, top: Located) -> RoutingConfig | None:
        if not self.mapping(top, _TOP, required=("organisation", "departments")):
            return None
        name, domains = self.given(top, "organisation", self.organisation, (None, []), True)
        self.calendars, self.calendar_names = {}, set()
        self.calendars = self.given(top, "calendars", self.calendar_section, {})
        departments = self.given(top, "departments", self.departments, {}, True)
        rules = self.given(top, "rules", self.rules, [])
        default = self.given(top, "default_department", self.department_ref, None)
        multi = self.given(top, "multi_department", self.multi_department, "each", True)
        admins = self.given(top, "admins", self.addresses, [])
        digest = self.given(top, "digest", self.schedule, DEFAULT_DIGEST, True)
        weekly = self.given(top, "weekly_report", self.schedule, DEFAULT_WEEKLY_REPORT, True)
        self.people.extend((item, "an admin") for _, item in admins)
        self.check_people()
        if self.errors or name is None or multi is None:
            return None
        emails = tuple(address for address, _ in admins)
        parts = (tuple(domains), departments, tuple(rules), default, multi, emails)
        schedules = (digest, weekly)
        return RoutingConfig(name, *parts, self.source, dict(self.calendars), *schedules)

    def schedule(self, at: Located) -> DailySchedule | None:
        """``"mon-fri 07:00"`` or ``off``; YAML reads a bare ``off`` as false."""
        if at.value is False:
            return None
        text = self.text(at)
        try:
            return parse_schedule(text) if text is not None else None
        except ValueError as error:
            self.error(at, str(error))
            return None

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
            self.error(at, f"expected a mapping of departments (HR: …), got {value_kind(at.value)}")
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
        members, away, names, languages, no_digest = self.members(at)
        default = ("round_robin" if members else "none", None)
        assign = partial(self.assignment, members=members)
        assignment, fixed = self.given(at, "assignment", assign, default, True)
        (first, resolution), by_priority, pause_on = self.given(
            at, "sla", self.sla, ((None, None), (), ("pending",))
        )
        calendar = self.given(at, "calendar", self.calendar_ref, None)
        leads = self.given(at, "leads", self.addresses, [])
        self.people.extend((item, "a lead") for _, item in leads)
        people = (tuple(aliases), tuple(members), tuple(away))
        department = Department(key, name or key, *people, assignment, fixed, first, resolution)
        retention = self.given(at, "retention", self.retention, None)
        return replace(
            department,
            member_names=tuple(names.items()),
            calendar=calendar or ROUND_THE_CLOCK,
            sla_by_priority=by_priority,
            sla_pause_on=pause_on,
            leads=tuple(dict.fromkeys(address for address, _ in leads)),
            language=self.given(at, "language", self.language, None),
            member_languages=tuple(languages.items()),
            no_digest=tuple(no_digest),
            retention=retention,
        )

    def language(self, at: Located) -> str | None:
        """``language: de``: one of the languages aliasdesk has texts in."""
        if not isinstance(at.value, str) or at.value.strip().lower() not in LANGUAGES:
            self.error(at, f"must be {_LANGUAGE_HELP}, got {value_kind(at.value)}")
            return None
        return at.value.strip().lower()

    def retention(self, at: Located) -> timedelta | None:
        """``retention: 365d``: how long a closed ticket keeps its mail; at least a day."""
        try:
            kept = parse_duration(at.value)
        except ValueError as error:
            self.error(at, str(error))
            return None
        if kept < timedelta(days=1):
            self.error(at, f"{format_duration(kept)} is shorter than a day")
            return None
        return kept

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

    def members(
        self, department: Located
    ) -> tuple[list[str], list[str], dict[str, str], dict[str, str], list[str]]:
        """Member addresses, those marked away (``away: […]``, ``{away: true}``, or all of
        them with the department's ``away: true``), the names and languages given as
        ``{address: …, name: Alice Hart, language: de}``, and those with ``digest: false``."""
        members: list[str] = []
        away: list[str] = []
        names: dict[str, str] = {}
        languages: dict[str, str] = {}
        no_digest: list[str] = []
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
                language = self.member_language(entry)
                languages.update({address: language} if language else {})
                no_digest.extend([] if self.member_flag(entry, "digest", True) else [address])
        return members, self.away(department, members, away), names, languages, no_digest

    def away(self, department: Located, members: list[str], marked: list[str]) -> list[str]:
        """The members assignment skips: those ``marked`` on their own entries, plus the
        department's ``away``: ``true`` for all of them (CONTRACT §3), ``false`` for none
        more, or a list of its members."""
        whole = department["away"].value if department.has("away") else None
        if isinstance(whole, bool):
            return list(members) if whole else marked
        if whole is not None and not isinstance(whole, list):
            self.error(
                department["away"],
                "expected true, false or a list, e.g. [someone@example.com], "
                f"got {value_kind(whole)}",
            )
            return marked
        away = list(marked)
        for address, item in self.given(department, "away", self.addresses, []):
            if address not in members:
                self.error(item, f"{address} is not a member of this department")
            elif address not in away:
                away.append(address)
        return away

    def member_items(self, at: Located) -> list[Located]:
        return self.items(at, "bob@example.com")

    def member(self, entry: Located) -> tuple[Located | None, bool]:
        """The address of one ``members`` entry: a plain address or ``{address:, away:}``."""
        if not isinstance(entry.value, dict):
            return entry, False
        if not self.mapping(entry, _MEMBER, required=("address",)) or "address" not in entry.value:
            return None, False
        return entry["address"], self.member_flag(entry, "away", False)

    def member_flag(self, entry: Located, key: str, default: bool) -> bool:
        """A true/false setting of a ``{address: …}`` member (``away``, ``digest``)."""
        if not isinstance(entry.value, dict) or entry.value.get(key) is None:
            return default
        flag = entry[key]
        if flag.value not in (True, False):
            self.error(flag, f"expected true or false, got {value_kind(flag.value)}")
            return default
        return bool(flag.value)

    def member_name(self, entry: Located) -> str | None:
        """The optional ``name`` of a ``{address: …}`` member: what mail calls them."""
        if not isinstance(entry.value, dict) or "name" not in entry.value:
            return None
        name = self.text(entry["name"])
        return " ".join(name.split()) if name else None

    def member_language(self, entry: Located) -> str | None:
        """The optional ``language`` of a ``{address: …}`` member: their mail's language."""
        if not isinstance(entry.value, dict) or "language" not in entry.value:
            return None
        return self.language(entry["language"])

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
            self.error(at, f"must be {_ASSIGNMENT_HELP}, got {value_kind(at.value)}")
            return "none", None
        if value != "none" and not members:
            self.error(at, f"{value} needs members; add members or use none")
        return str(value), None
