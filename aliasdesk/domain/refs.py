"""Ticket references (``HR-42``): the one place they are formatted and parsed.

A reference is the department key, a dash and the department's own counter, so a
requester sees a short, speakable tag and threading can find it in any subject line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_KEY = r"[A-Z][A-Z0-9]{0,9}"
_REF_RE = re.compile(rf"^({_KEY})-([1-9][0-9]{{0,8}})$")
# The tag as it appears in subjects: "[HR-42]" anywhere, behind any Re:/Fwd:/AW:/SV: chain.
_TAG_RE = re.compile(rf"\[\s*({_KEY})-([1-9][0-9]{{0,8}})\s*\]", re.IGNORECASE)


class RefError(ValueError):
    """A string that is not a ticket reference."""


@dataclass(frozen=True, slots=True, order=True)
class TicketRef:
    department: str
    number: int

    def __str__(self) -> str:
        return format_ref(self.department, self.number)

    @property
    def tag(self) -> str:
        """The subject tag, ``[HR-42]``."""
        return f"[{self}]"


def format_ref(department: str, number: int) -> str:
    return f"{department}-{number}"


def parse_ref(text: str) -> TicketRef:
    """``"hr-42"`` or ``"HR-42"`` -> TicketRef; RefError otherwise."""
    match = _REF_RE.match(text.strip().upper())
    if match is None:
        raise RefError(f"not a ticket reference: {text!r} (expected KEY-N, e.g. HR-42)")
    return TicketRef(match.group(1), int(match.group(2)))


def refs_in_subject(subject: str) -> list[TicketRef]:
    """Every ``[KEY-N]`` tag in a subject, in order, without repeats (case-insensitive)."""
    found: list[TicketRef] = []
    for match in _TAG_RE.finditer(subject[:2000]):
        ref = TicketRef(match.group(1).upper(), int(match.group(2)))
        if ref not in found:
            found.append(ref)
    return found
