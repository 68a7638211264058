"""How commands print: JSON documents for scripts, shared by every read command."""

from __future__ import annotations

import json
import re
import sys
import textwrap
from collections.abc import Iterable
from typing import Any


def print_json(data: Any) -> None:
    """One indented document on stdout, non-ASCII kept readable (names, subjects)."""
    json.dump(data, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


def print_json_items(items: Iterable[Any]) -> None:
    """A JSON list written an item at a time, laid out as :func:`print_json` lays it out:
    a listing of many thousand tickets is never held whole."""
    sys.stdout.write("[")
    written = False
    for item in items:
        sys.stdout.write(",\n" if written else "\n")
        sys.stdout.write(textwrap.indent(json.dumps(item, indent=2, ensure_ascii=False), "  "))
        written = True
    sys.stdout.write("\n]\n" if written else "]\n")


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
"""Control characters, and the marks that turn text right to left (a subject written
"invoice\u202etxt.exe" would show as "invoiceexe.txt")."""


def printable(text: str) -> str:
    """Text from a mail without the control characters (terminal escapes among them)
    that could rewrite what the admin's terminal shows. The parser already takes them
    out of subjects and names; this is the last guard for every line a mail fills in."""
    return _CONTROL.sub("", text)
