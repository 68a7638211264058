"""The message catalogs are complete and current: every text the templates and the
wording modules mark is in the .pot, translated in every language's .po, and the
committed .mo files (what the renderer reads, and what a wheel ships) match the .po."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from aliasdesk.domain.languages import LANGUAGES, SOURCE_LANGUAGE

ROOT = Path(__file__).resolve().parents[2]
LOCALE = ROOT / "templates" / "email" / "locale"
TRANSLATED = [code for code in LANGUAGES if code != SOURCE_LANGUAGE]
PLACEHOLDER = re.compile(r"%\(\w+\)s")


def _read_po(path: Path) -> Catalog:
    with path.open("rb") as handle:
        return read_po(handle)


def _text(value: object) -> str:
    """A msgid or msgstr as one text: plural forms (a list or a tuple) joined."""
    if isinstance(value, list | tuple):
        return "\x00".join(str(item) for item in value)
    return str(value)


def _ids(catalog: Catalog) -> set[str]:
    return {_text(message.id) for message in catalog if message.id}


@pytest.fixture(scope="module")
def extracted(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """What ``make messages`` would extract from the code as it is now."""
    out = tmp_path_factory.mktemp("pot") / "messages.pot"
    pybabel = Path(sys.executable).with_name("pybabel")
    subprocess.run(
        [
            str(pybabel),
            "-q",
            "extract",
            "-F",
            "babel.cfg",
            "--omit-header",
            "-k",
            "CommandHelp:2",
            "-o",
            str(out),
            ".",
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    return _ids(_read_po(out))


def test_the_template_catalog_is_current(extracted: set[str]) -> None:
    committed = _ids(_read_po(LOCALE / "messages.pot"))
    assert extracted - committed == set(), "run `make messages`"
    assert committed - extracted == set(), "run `make messages`"


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_text_is_translated_with_the_same_placeholders(
    language: str, extracted: set[str]
) -> None:
    catalog = _read_po(LOCALE / language / "LC_MESSAGES" / "messages.po")
    translated = {_text(m.id): _text(m.string) for m in catalog if m.id and m.string}
    assert extracted - set(translated) == set()
    for msgid, text in translated.items():
        assert sorted(PLACEHOLDER.findall(text)) == sorted(PLACEHOLDER.findall(msgid)), msgid
    assert not [m.id for m in catalog if m.id and m.fuzzy]


@pytest.mark.parametrize("language", TRANSLATED)
def test_the_compiled_catalog_matches_its_source(language: str) -> None:
    folder = LOCALE / language / "LC_MESSAGES"
    source = {_text(m.id): _text(m.string) for m in _read_po(folder / "messages.po") if m.id}
    with (folder / "messages.mo").open("rb") as handle:
        compiled = {_text(m.id): _text(m.string) for m in read_mo(handle) if m.id}
    assert compiled == source, "run `make catalogs`"
