"""Generic shapes of the routing file: located values and the checks every section uses.

Every check records a ConfigError with the line ruamel.yaml kept for the value and the
field path, and carries on, so an admin sees every problem of a file at once.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from aliasdesk.domain.organisation import PLAIN_ADDRESS
from aliasdesk.settings.errors import ConfigError

T = TypeVar("T")
U = TypeVar("U")


def join_field(field: str, key: object) -> str:
    return f"{field}.{key}" if field else str(key)


def value_kind(value: object) -> str:
    """How a wrong value is named in a message."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return f"a number ({value})"
    if isinstance(value, str):
        flat = " ".join(value.split())
        return f'"{flat}"' if len(flat) <= 60 else f'"{flat[:59]}…"'
    if isinstance(value, list):
        return "a list"
    return "a mapping" if isinstance(value, dict) else type(value).__name__


@dataclass(frozen=True)
class Located:
    """A value with the line and field path it came from, so errors can point at it."""

    value: Any
    line: int
    field: str

    def __getitem__(self, key: object) -> Located:
        """The value under ``key`` of this mapping (None when absent), at the key's line."""
        return Located(self.value.get(key), self._line(key), join_field(self.field, key))

    def has(self, key: str) -> bool:
        return isinstance(self.value, dict) and self.value.get(key) is not None

    def items(self) -> list[Located]:
        return [
            Located(item, self._line(index), f"{self.field}[{index}]")
            for index, item in enumerate(self.value)
        ]

    def _line(self, key: object) -> int:
        try:
            lc = self.value.lc
            position = lc.item(key) if isinstance(self.value, list) else lc.key(key)
            return int(position[0]) + 1
        except (AttributeError, KeyError, IndexError, TypeError):
            return self.line


class ShapeChecks:
    """The checks of values any section has: mappings, text, lists, addresses, choices."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.errors: list[ConfigError] = []
        self.department_keys: set[str] = set()
        self.alias_owner: dict[str, tuple[str, int]] = {}
        self.people: list[tuple[Located, str]] = []  # members and admins: must not be aliases

    def error(self, at: Located, message: str) -> None:
        field = at.field or "document"  # the top level has no field name of its own
        self.errors.append(ConfigError(self.source, at.line, field, message))

    # -- generic shapes -------------------------------------------------------------

    def given(
        self,
        at: Located,
        key: str,
        parse: Callable[[Located], T],
        default: U,
        null_too: bool = False,
    ) -> T | U:
        """``parse`` the value under ``key``; ``default`` when the key is absent.

        An explicit null counts as absent for optional keys; with ``null_too`` it is parsed
        (and so reported) instead, for keys that are required or must not be null.
        """
        present = key in at.value if null_too else at.has(key)
        return parse(at[key]) if present else default

    def mapping(
        self, at: Located, allowed: tuple[str, ...], required: tuple[str, ...] = ()
    ) -> bool:
        """Check ``at`` is a mapping with no unknown key and every required key."""
        if not isinstance(at.value, dict):
            self.error(at, f"expected a mapping ({', '.join(allowed)}), got {value_kind(at.value)}")
            return False
        suggested: set[str] = set()
        for key in at.value:
            if key not in allowed:
                close = difflib.get_close_matches(str(key), allowed, n=1)
                hint = f'did you mean "{close[0]}"?' if close else f"use {', '.join(allowed)}"
                self.error(at[key], f"unknown key; {hint}")
                suggested.update(close)
        for key in required:
            # A misspelt key was already reported with the right name as a suggestion.
            if key not in at.value and key not in suggested:
                self.error(Located(None, at.line, join_field(at.field, key)), "is required")
        return True

    def text(self, at: Located) -> str | None:
        if not isinstance(at.value, str) or not at.value.strip():
            self.error(at, f"expected non-empty text, got {value_kind(at.value)}")
            return None
        return str(at.value).strip()

    def items(self, at: Located, example: str) -> list[Located]:
        if not isinstance(at.value, list):
            self.error(at, f"expected a list, e.g. [{example}], got {value_kind(at.value)}")
            return []
        return at.items()

    def address(self, at: Located) -> str | None:
        text = self.text(at)
        if text is not None and not PLAIN_ADDRESS.fullmatch(text):
            self.error(at, f'"{text}" is not an email address (expected name@domain)')
            return None
        return text.lower() if text else None

    def addresses(self, at: Located) -> list[tuple[str, Located]]:
        found: list[tuple[str, Located]] = []
        for item in self.items(at, "someone@example.com"):
            address = self.address(item)
            if address is not None and any(address == known for known, _ in found):
                self.error(item, f"{address} is listed twice")
            elif address is not None:
                found.append((address, item))
        return found

    def choice(self, at: Located, allowed: tuple[str, ...]) -> str | None:
        if not isinstance(at.value, str) or at.value not in allowed:
            self.error(at, f"must be one of {' | '.join(allowed)}, got {value_kind(at.value)}")
            return None
        return str(at.value)

    def department_ref(self, at: Located) -> str | None:
        if not isinstance(at.value, str) or at.value not in self.department_keys:
            known = ", ".join(sorted(self.department_keys)) or "none"
            self.error(at, f"unknown department {value_kind(at.value)}; known: {known}")
            return None
        return str(at.value)
