"""Every ``ALIASDESK_*`` setting the code reads has a row in the README's settings table,
so an admin installing aliasdesk never has to read the source to find one."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CODE = ("aliasdesk", "gateway", "worker")
NAMED = re.compile(r"\bALIASDESK_[A-Z][A-Z0-9_]*[A-Z0-9]\b")
READ_BY_SETTINGS = re.compile(r"self\.(?:get|raw)\(\s*\"([A-Z][A-Z0-9_]*)\"")
CELL_NAMES = re.compile(r"`(ALIASDESK_[A-Z0-9_]+|_[A-Z0-9_]+)`")
SECTION = "### Settings"


def _read_by_code() -> set[str]:
    found: set[str] = set()
    for package in CODE:
        for path in (ROOT / package).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            found.update(NAMED.findall(text))
            found.update(f"ALIASDESK_{name}" for name in READ_BY_SETTINGS.findall(text))
    return found


def _documented() -> set[str]:
    """Names in the first column of the table under "### Settings"; a cell such as
    `ALIASDESK_IMAP_HOST` / `_PORT` stands for ALIASDESK_IMAP_HOST and ALIASDESK_IMAP_PORT."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split(SECTION, 1)[1].split("\n#", 1)[0]
    names: set[str] = set()
    for line in section.splitlines():
        if not line.startswith("| `"):
            continue
        first_cell = line.split("|")[1]
        group = ""
        for name in CELL_NAMES.findall(first_cell):
            if name.startswith("ALIASDESK_"):
                names.add(name)
                group = "_".join(name.split("_")[:2])  # ALIASDESK_IMAP, ALIASDESK_OAUTH
            elif group:
                names.add(group + name)
    return names


def test_the_table_is_read_as_written() -> None:
    documented = _documented()
    assert {"ALIASDESK_IMAP_PASSWORD", "ALIASDESK_OAUTH_SCOPE", "ALIASDESK_SMTP_AUTH"} <= documented


def test_every_setting_read_by_the_code_is_in_the_readme_table() -> None:
    missing = sorted(_read_by_code() - _documented())
    assert not missing, f"add these to the README's settings table: {missing}"
