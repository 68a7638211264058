"""The process environment is read in ``aliasdesk.settings`` only: every variable the
product obeys can be found (and documented) in one package."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = ROOT / "aliasdesk" / "settings"


def environment_reads(source: str) -> list[int]:
    """Line numbers that touch ``os.environ``, ``os.getenv`` or ``os.putenv`` (also when
    imported by name, as ``from os import environ``)."""
    names = {"environ", "getenv", "putenv"}
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and node.attr in names:
            lines.append(node.lineno)
        elif isinstance(node, ast.ImportFrom) and node.module == "os":
            lines += [node.lineno for alias in node.names if alias.name in names]
    return lines


def test_the_check_sees_every_way_of_reading_the_environment() -> None:
    source = "import os\nfrom os import getenv\na = os.environ['X']\nb = os.getenv('Y')\n"
    assert sorted(environment_reads(source)) == [2, 3, 4]
    assert environment_reads("import os\nos.getpid()\n") == []


def test_only_settings_reads_the_environment() -> None:
    found = []
    for package in ("aliasdesk", "gateway", "worker"):
        for path in sorted((ROOT / package).rglob("*.py")):
            if path.is_relative_to(SETTINGS):
                continue
            found += [f"{path.relative_to(ROOT)}:{n}" for n in environment_reads(path.read_text())]
    assert found == [], "read it through aliasdesk.settings: " + ", ".join(found)
