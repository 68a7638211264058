"""The ``when`` keys of a routing rule, each declared once (CONTRACT §3).

A :class:`ConditionKind` says how its value is written in the routing file (an address
compared exactly, or a regex; keyed by a header name or not) and how it is checked against
a mail, with the words ``rules explain`` uses when it does not match. The routing-file
schema and the router both read ``CONDITIONS``; a new condition is one declaration here.

Regexes come from an admin's file and run against text from strangers, and Python's
``re`` has no timeout, so the text fed to them is capped (see the ``*_LIMIT`` values).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass

BODY_LIMIT = 64 * 1024
SUBJECT_LIMIT = 2 * 1024
HEADER_LIMIT = 8 * 1024
ADDRESS_LIMIT = 320  # RFC 5321: 64 + 1 + 255, with room to spare
SHOWN_LIMIT = 60  # how much of a value a trace line quotes

# A "plain" address or domain in a rule is compared exactly instead of searched as a
# regex: "hr@example.com" must not also match "xhr@example.com.evil.net".
PLAIN_ADDRESS = re.compile(r"[A-Za-z0-9._%+'=-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
PLAIN_DOMAIN = re.compile(r"[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
HEADER_NAME = re.compile(r"[!-9;-~]+")  # RFC 5322 §2.2: printable ASCII except ":"


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
class Condition:
    """One ``when`` key of a rule.

    Exactly one of ``address`` (an exact, lower-cased address or domain) and ``regex``
    is set. Build conditions with :meth:`build`, which decides between the two.
    """

    field: str
    pattern: str
    header_name: str | None = None
    address: str | None = None
    regex: re.Pattern[str] | None = dataclasses.field(default=None, compare=False)

    @classmethod
    def build(cls, field_name: str, pattern: str, header_name: str | None = None) -> Condition:
        """Make a condition; raises ``re.error`` when ``pattern`` is not a valid regex."""
        kind = CONDITIONS[field_name]
        if kind.exact is not None and kind.exact.fullmatch(pattern):
            return cls(field_name, pattern, header_name, address=pattern.lower())
        flags = re.IGNORECASE if kind.exact is not None else 0
        lowered = header_name.lower() if header_name else None
        return cls(field_name, pattern, lowered, regex=re.compile(pattern, flags))

    @property
    def label(self) -> str:
        """How the condition is named in traces: ``subject`` or ``header X-Priority``."""
        if CONDITIONS[self.field].keyed_by is not None:
            return f"{self.field} {self.header_name}"
        return self.field

    def describe(self) -> str:
        """The condition as a trace line quotes it: ``subject "(?i)vpn"``."""
        return f"{self.label} {quote(self.pattern)}"

    def check(self, facts: MailFacts) -> tuple[str | None, str]:
        """(what matched, quoted; or None and the reason it did not)."""
        return CONDITIONS[self.field].match(self, facts)


Match = tuple[str | None, str]
"""(what matched, or None and why not)."""


@dataclass(frozen=True)
class ConditionKind:
    """How one ``when`` key is written and matched.

    ``exact``: a value that fully matches it is compared exactly (lower-cased) and any
    other value is a case-insensitive regex, for keys whose values are addresses; without
    it the value is a regex taken as written (admins add ``(?i)`` where they want it).
    ``keyed_by``: the key holds a mapping from names of this shape (``key_name``) to regexes.
    ``expects``: what a value must be, as ``rules check`` says when it is not.
    """

    name: str
    match: Callable[[Condition, MailFacts], Match]
    exact: re.Pattern[str] | None = None
    keyed_by: re.Pattern[str] | None = None
    key_name: str = ""
    expects: str = "an address or a regular expression"


def _to(condition: Condition, facts: MailFacts) -> Match:
    addresses = facts.recipients()
    for address in addresses:
        if _address_matches(condition, address):
            return address.lower(), ""
    listed = ", ".join(addresses[:5]) + (", …" if len(addresses) > 5 else "")
    return None, f"{condition.describe()} did not match the recipients ({listed or 'none'})"


def _from(condition: Condition, facts: MailFacts) -> Match:
    if not facts.from_address:
        return _no_sender(condition)
    value = facts.from_address.lower()
    return (value, "") if _address_matches(condition, value) else _miss(condition, value)


def _from_domain(condition: Condition, facts: MailFacts) -> Match:
    """A plain domain also matches its subdomains; a regex is searched in the domain."""
    if not facts.from_address:
        return _no_sender(condition)
    value = facts.from_address.lower().rpartition("@")[2]
    if condition.address is not None:
        exact = value == condition.address or value.endswith("." + condition.address)
        return (value, "") if exact else _miss(condition, value)
    return (value, "") if _address_matches(condition, value) else _miss(condition, value)


def _subject(condition: Condition, facts: MailFacts) -> Match:
    return _match_text(condition, [facts.subject[:SUBJECT_LIMIT]], "the subject")


def _body(condition: Condition, facts: MailFacts) -> Match:
    """The body is never quoted: it may be long, and private."""
    if _search(condition, facts.body[:BODY_LIMIT]):
        return "the body", ""
    return None, f"{condition.describe()} did not match the body ({len(facts.body)} chars)"


def _header(condition: Condition, facts: MailFacts) -> Match:
    wanted = condition.header_name
    values = [value[:HEADER_LIMIT] for name, value in facts.headers if name == wanted]
    if not values:
        return None, f"{condition.describe()} did not match: the mail has no {wanted} header"
    return _match_text(condition, values, f"the {wanted} header")


def _no_sender(condition: Condition) -> Match:
    return None, f"{condition.describe()} did not match: the mail has no sender address"


def _address_matches(condition: Condition, address: str) -> bool:
    if condition.address is not None:
        return address.strip().lower() == condition.address
    return _search(condition, address[:ADDRESS_LIMIT])


def _match_text(condition: Condition, values: list[str], what: str) -> Match:
    for value in values:
        if _search(condition, value):
            return quote(value), ""
    if len(values) == 1:
        return _miss(condition, values[0])
    return None, f"{condition.describe()} did not match any of {len(values)} values of {what}"


def _search(condition: Condition, text: str) -> bool:
    return condition.regex is not None and condition.regex.search(text) is not None


def _miss(condition: Condition, value: str) -> tuple[None, str]:
    return None, f"{condition.describe()} did not match {quote(value)}"


def quote(text: str) -> str:
    """A short, one-line, quoted rendering of ``text`` for a trace line."""
    flat = " ".join(text.split())
    if len(flat) > SHOWN_LIMIT:
        flat = flat[: SHOWN_LIMIT - 1] + "…"
    return f'"{flat}"'


_DECLARED = (
    ConditionKind("to", _to, exact=PLAIN_ADDRESS),
    ConditionKind("from", _from, exact=PLAIN_ADDRESS),
    ConditionKind("from_domain", _from_domain, exact=PLAIN_DOMAIN),
    ConditionKind("subject", _subject),
    ConditionKind("body", _body),
    ConditionKind("header", _header, keyed_by=HEADER_NAME, key_name="header name"),
)

CONDITIONS: dict[str, ConditionKind] = {kind.name: kind for kind in _DECLARED}
"""``when`` key -> its declaration, in the order ``rules check`` lists them."""
