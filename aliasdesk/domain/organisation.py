"""The organisation as the routing file describes it: departments, their aliases and rules.

These are plain frozen values built once by ``aliasdesk.settings.routing_file`` after the
whole file has been validated, so everything downstream (routing, assignment, SLAs) can
trust them without re-checking. Addresses are stored lower-cased because mail addresses
are compared case-insensitively in practice, whatever RFC 5321 says about local parts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property

from aliasdesk.domain.calendars import ROUND_THE_CLOCK, BusinessCalendar
from aliasdesk.domain.conditions import CONDITIONS, PLAIN_ADDRESS, PLAIN_DOMAIN, Condition
from aliasdesk.domain.schedules import DEFAULT_DIGEST, DEFAULT_WEEKLY_REPORT, DailySchedule

__all__ = [
    "ACTIONS",
    "ASSIGNMENTS",
    "CONDITION_FIELDS",
    "MULTI_DEPARTMENT",
    "PAUSING_STATUSES",
    "PLAIN_ADDRESS",
    "PLAIN_DOMAIN",
    "PRIORITIES",
    "Condition",
    "Department",
    "Organisation",
    "RoutingConfig",
    "Rule",
]

ASSIGNMENTS = ("round_robin", "least_loaded", "fixed", "none")
PRIORITIES = ("low", "normal", "high", "urgent")
ACTIONS = ("ticket", "ignore", "quarantine")
PAUSING_STATUSES = ("new", "open", "pending")
"""Statuses a department may list under ``sla.pause_on``: the ones whose clock could run."""
MULTI_DEPARTMENT = ("each", "first")

CONDITION_FIELDS = tuple(CONDITIONS)
"""The ``when`` keys a rule may use (declared in ``aliasdesk.domain.conditions``)."""


@dataclass(frozen=True)
class Rule:
    """A routing rule: when every condition matches, it decides alone.

    ``department`` may be None for a ``ticket`` rule: the mail is then routed by its
    aliases as if no rule had matched, but with the rule's priority.
    """

    name: str
    conditions: tuple[Condition, ...]
    department: str | None = None
    priority: str | None = None
    action: str = "ticket"
    line: int = 0


@dataclass(frozen=True)
class Department:
    """A team with its own aliases, members and ticket series (``KEY-1``, ``KEY-2``, …).

    ``members`` includes the ones in ``away``: away members keep their tickets and may
    act on them, they just get no new ones (see :attr:`available_members`).
    """

    key: str
    name: str
    aliases: tuple[str, ...]
    members: tuple[str, ...] = ()
    away: tuple[str, ...] = ()
    assignment: str = "round_robin"
    fixed_member: str | None = None
    sla_first_response: timedelta | None = None
    sla_resolution: timedelta | None = None
    member_names: tuple[tuple[str, str], ...] = ()
    """(address, name) for members written ``{address: …, name: Alice Hart}``."""
    calendar: BusinessCalendar = ROUND_THE_CLOCK
    """The business time its targets and figures count in."""
    sla_by_priority: tuple[tuple[str, timedelta | None, timedelta | None], ...] = ()
    """(priority, first_response, resolution) where a priority has targets of its own; a
    target left out there is the department-wide one above."""
    sla_pause_on: tuple[str, ...] = ("pending",)
    """Statuses in which the SLA clock stands still."""
    leads: tuple[str, ...] = ()
    """People who answer for the department without working its tickets: they read its
    figures (the dashboard) as members do, get its weekly report and hear of poor
    ratings, and get no tickets. A lead need not be a member."""
    language: str | None = None
    """The language of the department's mail when nothing better is known (``language:``)."""
    member_languages: tuple[tuple[str, str], ...] = ()
    """(address, language) for members written ``{address: …, language: de}``."""
    no_digest: tuple[str, ...] = ()
    """Members who asked for no morning digest (``{address: …, digest: false}``)."""
    retention: timedelta | None = None
    """How long a closed ticket keeps its mail before it is anonymised; None: for ever."""

    @property
    def available_members(self) -> tuple[str, ...]:
        """Members who may be given new tickets, in file order."""
        away = set(self.away)
        return tuple(member for member in self.members if member not in away)

    @property
    def primary_alias(self) -> str:
        """The alias acknowledgements are sent from when no other one applies."""
        return self.aliases[0]

    def wants_digest(self, address: str) -> bool:
        return address.strip().lower() not in self.no_digest

    def has_member(self, address: str) -> bool:
        return address.strip().lower() in self.members

    def language_of(self, address: str) -> str | None:
        """The member's own language as the routing file gives it, if it does."""
        wanted = address.strip().lower()
        return next((code for member, code in self.member_languages if member == wanted), None)

    def name_of(self, address: str) -> str | None:
        """The member's name as the routing file gives it, if it does."""
        wanted = address.strip().lower()
        return next((name for member, name in self.member_names if member == wanted), None)


@dataclass(frozen=True)
class RoutingConfig:
    """Everything the routing file says, validated. ``departments`` keeps file order."""

    name: str
    domains: tuple[str, ...]
    departments: dict[str, Department]
    rules: tuple[Rule, ...] = ()
    default_department: str | None = None
    multi_department: str = "each"
    admins: tuple[str, ...] = ()
    source: str = ""
    calendars: dict[str, BusinessCalendar] = field(default_factory=dict)
    digest: DailySchedule | None = DEFAULT_DIGEST
    """When members get their morning digest (``digest:`` at the top level); None: never."""
    weekly_report: DailySchedule | None = DEFAULT_WEEKLY_REPORT
    """When leads get their department's weekly report (``weekly_report:``); None: never."""

    @cached_property
    def _alias_index(self) -> dict[str, Department]:
        return {alias: dept for dept in self.departments.values() for alias in dept.aliases}

    def department_for_alias(self, address: str) -> Department | None:
        """The department that owns this alias, or None if it is not one of ours."""
        return self._alias_index.get(address.strip().lower())

    def all_aliases(self) -> frozenset[str]:
        """Every alias of every department: mail from these is our own (loop protection)."""
        return frozenset(self._alias_index)

    def is_member(self, address: str, dept_key: str) -> bool:
        department = self.departments.get(dept_key)
        return department is not None and department.has_member(address)

    def member_name(self, address: str) -> str | None:
        """A member's name from the routing file (the first department that gives one)."""
        return self._member_names.get(address.strip().lower())

    @cached_property
    def _member_names(self) -> dict[str, str]:
        """Address -> name, read once: every mail names several people."""
        names: dict[str, str] = {}
        for dept in self.departments.values():
            for member, name in dept.member_names:
                if name:
                    names.setdefault(member, name)
        return names

    def member_language(self, address: str) -> str | None:
        """A member's own language from the routing file (the first department giving one)."""
        codes = (dept.language_of(address) for dept in self.departments.values())
        return next((code for code in codes if code), None)

    @cached_property
    def _staff(self) -> frozenset[str]:
        people = {m for dept in self.departments.values() for m in (*dept.members, *dept.leads)}
        return frozenset(people | set(self._alias_index) | {a.lower() for a in self.admins})

    def is_staff(self, address: str) -> bool:
        """A department member or lead, an alias or an admin: someone inside the departments.

        Everyone else is outside, and automatic mail to them is capped (CONTRACT §5).
        """
        return address.strip().lower() in self._staff

    def dashboard_departments(self, address: str) -> list[str]:
        """Keys of the departments whose dashboard ``address`` may read, in file order:
        every one for an admin, else those it is a member or a lead of."""
        wanted = address.strip().lower()
        if wanted in {admin.lower() for admin in self.admins}:
            return list(self.departments)
        return [
            key
            for key, dept in self.departments.items()
            if wanted in dept.members or wanted in dept.leads
        ]

    def departments_of_member(self, address: str) -> list[str]:
        """Keys of the departments this address is a member of, in file order."""
        return [key for key, dept in self.departments.items() if dept.has_member(address)]

    def is_employee(self, address: str) -> bool:
        """Whether the sender's domain (or a subdomain of it) is one of the organisation's."""
        domain = address.strip().lower().rpartition("@")[2]
        return any(domain == d or domain.endswith("." + d) for d in self.domains)


Organisation = RoutingConfig
