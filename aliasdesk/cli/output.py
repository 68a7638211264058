"""How commands print: JSON documents for scripts, shared by every read command."""

from __future__ import annotations

import json
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
