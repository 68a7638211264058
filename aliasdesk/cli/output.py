"""How commands print: JSON documents for scripts, shared by every read command."""

from __future__ import annotations

import json
import sys
from typing import Any


def print_json(data: Any) -> None:
    """One indented document on stdout, non-ASCII kept readable (names, subjects)."""
    json.dump(data, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")
