"""Whether our own receiving server vouched for a mail's From domain (RFC 8601).

Anyone can write any From header and any Authentication-Results header. Only a header
whose authserv-id is the receiving server we were told to trust (ALIASDESK_AUTHSERV_ID)
says anything: RFC 8601 §5 has that server remove headers carrying its own id from
incoming mail, so a forger cannot slip one in, and headers with any other id are
ignored. Of those headers the topmost counts, since it was added last, by our server.

Only DMARC decides: it is the one method that checks the From domain a person reads.
An SPF or DKIM pass says something about an envelope or a signing domain, not about
From, so it never counts; a ``dmarc=fail`` (or any other DMARC result) outweighs every
pass; a DMARC pass that names no ``header.from`` domain counts for nothing. Comments in
parentheses are dropped first (RFC 5322 §3.2.2): "(dmarc=pass)" inside one proves nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_COMMENT = re.compile(r"\([^()]*\)")
_DMARC = re.compile(r"^\s*dmarc\s*=\s*([a-z]+)\b(.*)$", re.IGNORECASE | re.DOTALL)
_HEADER_FROM = re.compile(r"\bheader\.from\s*=\s*\"?([^\s;\"]+)", re.IGNORECASE)
_AUTHSERV_ID = re.compile(r"^\s*([^\s;]+)")


def without_comments(value: str) -> str:
    """The header with every (possibly nested) comment replaced by a space."""
    previous = None
    while previous != value:  # nested comments: innermost first
        previous, value = value, _COMMENT.sub(" ", value)
    return value


def authserv_id(header: str) -> str:
    """The authserv-id a header names (its first token), lower-cased; '' when absent."""
    match = _AUTHSERV_ID.match(without_comments(header).split(";", 1)[0])
    return match.group(1).strip().lower().rstrip(".") if match else ""


def _domain_of(value: str) -> str:
    return value.rpartition("@")[2].strip().strip(".").lower()


def dmarc_results(header: str) -> list[tuple[str, str]]:
    """(result, header.from domain) for each DMARC result in one header; domain may be ''."""
    found: list[tuple[str, str]] = []
    for segment in without_comments(header).split(";")[1:]:
        match = _DMARC.match(segment)
        if match is None:
            continue
        named = _HEADER_FROM.search(match.group(2))
        found.append((match.group(1).lower(), _domain_of(named.group(1)) if named else ""))
    return found


def trusted_header(headers: Iterable[str], trusted_id: str) -> str | None:
    """The topmost header our receiving server added, or None."""
    wanted = trusted_id.strip().lower().rstrip(".")
    if not wanted:
        return None
    for header in headers:
        if authserv_id(header) == wanted:
            return header
    return None


def dmarc_passed(headers: Iterable[str], trusted_id: str | None, from_address: str) -> bool:
    """True when our receiving server reported ``dmarc=pass`` for the From domain and no
    other DMARC result in the same header contradicts it."""
    domain = _domain_of(from_address) if "@" in from_address else ""
    if not domain or not trusted_id:
        return False
    header = trusted_header(headers, trusted_id)
    if header is None:
        return False
    results = dmarc_results(header)
    if any(result != "pass" for result, _ in results):
        return False
    return any(named == domain for _, named in results)
