"""Whether the receiving server vouched for the sender (RFC 8601 Authentication-Results).

Used when ALIASDESK_REQUIRE_AUTH_RESULTS is on: a From header alone is easy to forge, so
commands then need DMARC to pass for the From domain, or DKIM/SPF to pass for it.

Only the topmost Authentication-Results header counts: it is the one our own receiving
server added; any lower one travelled with the mail and may be the forger's own
(RFC 8601 §5). Comments in parentheses are dropped before reading (RFC 5322 §3.2.2), so
"(dmarc=pass)" written into a comment proves nothing.
"""

from __future__ import annotations

import re

from aliasdesk.mail.model import ParsedMail

_COMMENT = re.compile(r"\([^()]*\)")
_RESULT = re.compile(r"^\s*(dmarc|dkim|spf)\s*=\s*([a-z]+)\b(.*)$", re.IGNORECASE | re.DOTALL)
_PROPERTY = re.compile(
    r"\b(header\.from|header\.d|header\.i|smtp\.mailfrom)\s*=\s*\"?([^\s;\"]+)", re.IGNORECASE
)


def _without_comments(value: str) -> str:
    previous = None
    while previous != value:  # nested comments: innermost first
        previous, value = value, _COMMENT.sub(" ", value)
    return value


def _domain_of(value: str) -> str:
    return value.rpartition("@")[2].strip().strip(".").lower()


def _aligned(sender_domain: str, named: str) -> bool:
    """DMARC's relaxed alignment: the same organisational domain, or a subdomain of it."""
    if "." not in named:  # never a bare top-level domain
        return False
    return sender_domain == named or sender_domain.endswith("." + named)


def passing_domains(header: str) -> list[tuple[str, str]]:
    """(method, domain) for each dmarc/dkim/spf result that passed; domain may be ''."""
    found: list[tuple[str, str]] = []
    # The first segment is the authserv-id (and version); results follow, ";"-separated.
    for segment in _without_comments(header).split(";")[1:]:
        match = _RESULT.match(segment)
        if match is None or match.group(2).lower() != "pass":
            continue
        method = match.group(1).lower()
        domains = [_domain_of(v) for _, v in _PROPERTY.findall(match.group(3))]
        found.extend((method, d) for d in domains or [""])
    return found


def sender_authenticated(mail: ParsedMail, sender: str) -> bool:
    """True when the topmost Authentication-Results shows a pass for the From domain."""
    domain = _domain_of(sender) if "@" in sender else ""
    headers = mail.header_values("authentication-results")
    if not domain or not headers:
        return False
    for method, named in passing_domains(headers[0]):
        # A DMARC result is about the From domain by definition, named or not.
        if method == "dmarc" and (not named or _aligned(domain, named)):
            return True
        if named and _aligned(domain, named):
            return True
    return False
