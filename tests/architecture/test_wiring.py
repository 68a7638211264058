"""Only the entry points (``aliasdesk/cli/``) load the settings and build a runtime: the
gateway, the workers and the services are handed what they need, so no module below the
entry points decides which configuration a process runs with."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WIRING = {"load_settings", "build_runtime"}
WHERE_DEFINED = {ROOT / "aliasdesk" / "settings" / "env.py", ROOT / "aliasdesk" / "runtime.py"}


def wiring_calls(source: str) -> list[int]:
    """Lines that call ``load_settings`` or ``build_runtime``, by name or as an attribute."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
        if name in WIRING:
            lines.append(node.lineno)
    return lines


def test_the_check_sees_both_ways_of_calling() -> None:
    source = "import x\nfrom x import load_settings\nx.build_runtime(s)\nload_settings()\n"
    assert sorted(wiring_calls(source)) == [3, 4]
    assert wiring_calls("load_settings = None\n") == []


def test_only_the_entry_points_wire_a_process() -> None:
    found = []
    for package in ("aliasdesk", "gateway", "worker"):
        for path in sorted((ROOT / package).rglob("*.py")):
            if path.is_relative_to(ROOT / "aliasdesk" / "cli") or path in WHERE_DEFINED:
                continue
            found += [f"{path.relative_to(ROOT)}:{n}" for n in wiring_calls(path.read_text())]
    assert found == [], "load settings and build runtimes in aliasdesk/cli: " + ", ".join(found)
