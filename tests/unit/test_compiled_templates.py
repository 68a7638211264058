"""Compiled templates kept in the per-user cache (notify/compiled_templates.py): a second
process compiles nothing and writes the same mail, and whatever the compiled code
depends on (the template, the catalog) compiles anew when it changes."""

from __future__ import annotations

import gettext
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from aliasdesk import user_cache
from aliasdesk.notify import compiled_templates
from aliasdesk.notify.language import MailLocale
from aliasdesk.notify.render import TemplateRenderer, sample_context

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "templates" / "email"

# Renders every kind in every language and prints how many templates Jinja compiled and
# a digest of all the mail, so two processes can be compared.
_PROBE = """
import hashlib, json, sys
from pathlib import Path
import jinja2
compiled = []
original = jinja2.Environment.compile
def counting(self, source, name=None, filename=None, raw=False, defer_init=False):
    compiled.append(name)
    return original(self, source, name, filename, raw, defer_init)
jinja2.Environment.compile = counting
from aliasdesk.domain.languages import LANGUAGES
from aliasdesk.notify.catalogue import kind_names
from aliasdesk.notify.language import MailLocale
from aliasdesk.notify.render import TemplateRenderer, sample_context
renderer = TemplateRenderer(Path(sys.argv[1]))
digest = hashlib.sha256()
for kind in kind_names():
    for language in LANGUAGES:
        mail = renderer.render(kind, sample_context(kind, None), None, MailLocale(language))
        digest.update(repr((kind, language, mail.subject, mail.text, mail.html)).encode())
print(json.dumps({"compiled": len(compiled), "mail": digest.hexdigest()}))
"""


def _probe(cache_home: Path) -> dict[str, object]:
    env = {**os.environ, "XDG_CACHE_HOME": str(cache_home)}
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, str(TEMPLATES)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_a_second_process_compiles_nothing_and_writes_the_same_mail(tmp_path: Path) -> None:
    first = _probe(tmp_path / "cache")
    second = _probe(tmp_path / "cache")
    assert isinstance(first["compiled"], int) and first["compiled"] > 100
    assert second["compiled"] == 0
    assert second["mail"] == first["mail"]
    # And the same mail as a process that may not use a cache at all.
    unsafe = tmp_path / "shared"
    unsafe.mkdir()
    unsafe.chmod(0o777)
    uncached = _probe(unsafe)
    assert uncached["compiled"] == first["compiled"]
    assert uncached["mail"] == first["mail"]
    assert not (unsafe / "aliasdesk" / "templates").exists() or not any(
        (unsafe / "aliasdesk" / "templates").iterdir()
    )


@pytest.fixture
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    compiled_templates._folder.cache_clear()
    yield tmp_path / "cache" / "aliasdesk" / compiled_templates.FOLDER
    compiled_templates._folder.cache_clear()


def _german_acknowledgement(templates: Path) -> str:
    kind = "acknowledgement"
    mail = TemplateRenderer(templates).render(
        kind, sample_context(kind, None), None, MailLocale("de")
    )
    return mail.text


def test_an_edited_catalog_compiles_anew(own_cache: Path, tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    shutil.copytree(TEMPLATES, templates)
    before = _german_acknowledgement(templates)
    assert any(own_cache.iterdir())
    folder = templates / "locale" / "de" / "LC_MESSAGES"
    with open(folder / "messages.po", "rb") as po:
        catalog = read_po(po, locale="de")
    changed = 0
    for message in catalog:
        if message.id and isinstance(message.string, str) and message.string in before:
            message.string = f"GEÄNDERT {changed}"
            changed += 1
    assert changed > 0
    with open(folder / "messages.mo", "wb") as mo:
        write_mo(mo, catalog)
    after = _german_acknowledgement(templates)
    assert "GEÄNDERT" in after and "GEÄNDERT" not in before


def test_an_edited_template_compiles_anew(own_cache: Path, tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    shutil.copytree(TEMPLATES, templates)
    before = _german_acknowledgement(templates)
    body = templates / "acknowledgement" / "body.txt"
    body.write_text(body.read_text() + "\nEIN NEUER SATZ\n")
    after = _german_acknowledgement(templates)
    assert "EIN NEUER SATZ" in after and "EIN NEUER SATZ" not in before


def test_a_folder_others_may_write_to_is_never_used(
    own_cache: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = own_cache.parent
    root.mkdir(parents=True)
    root.chmod(0o777)
    with pytest.raises(user_cache.UnsafeFolder):
        user_cache.private_folder(compiled_templates.FOLDER)
    assert compiled_templates.bytecode_cache("de", gettext.NullTranslations()) is None
    assert "template_cache_unusable" in caplog.text
    assert _german_acknowledgement(TEMPLATES)
    assert not own_cache.exists()  # nothing is made inside a refused folder


def test_a_link_in_place_of_the_folder_is_never_followed(own_cache: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    own_cache.parent.mkdir(parents=True)
    own_cache.symlink_to(elsewhere)
    with pytest.raises(user_cache.UnsafeFolder):
        user_cache.private_folder(compiled_templates.FOLDER)
    assert _german_acknowledgement(TEMPLATES)
    assert not any(elsewhere.iterdir())


def test_a_link_in_place_of_the_cache_folder_gets_nothing_made_where_it_points(
    own_cache: Path, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    own_cache.parent.parent.mkdir(parents=True)
    own_cache.parent.symlink_to(elsewhere)
    with pytest.raises(user_cache.UnsafeFolder):
        user_cache.private_folder(compiled_templates.FOLDER)
    assert not any(elsewhere.iterdir())


def test_without_the_compiling_code_s_source_nothing_is_cached(
    own_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An install that ships no .py files cannot tell a changed compiler from the old one:
    it compiles every template, and still renders."""
    monkeypatch.setattr(compiled_templates, "_COMPILING_MODULES", ("no_such_module.py",))
    compiled_templates._compiler_digest.cache_clear()
    try:
        assert compiled_templates.bytecode_cache("de", gettext.NullTranslations()) is None
        assert _german_acknowledgement(TEMPLATES)
        assert not own_cache.exists() or not any(own_cache.iterdir())
    finally:
        compiled_templates._compiler_digest.cache_clear()


def _aged(path: Path, days: float) -> None:
    when = time.time() - days * 86400
    os.utime(path, (when, when))


def test_a_loaded_template_is_touched_and_a_long_unused_one_removed(own_cache: Path) -> None:
    """Every edit and upgrade adds compiled files: one nobody loaded for KEPT_DAYS goes
    when a process first uses the folder; one loaded since is kept."""
    _german_acknowledgement(TEMPLATES)  # compiles and writes the files it needs
    files = sorted(own_cache.glob("*.cache"))
    assert files
    for file in files:
        _aged(file, compiled_templates.KEPT_DAYS + 5)
    _german_acknowledgement(TEMPLATES)  # a new renderer loads them from the folder
    assert all(time.time() - file.stat().st_mtime < 3600 for file in files)
    stale = own_cache / f"de-{'0' * 24}-{'1' * 40}.cache"  # an old version's file
    stale.write_bytes(b"old")
    _aged(stale, compiled_templates.KEPT_DAYS + 1)
    compiled_templates._folder.cache_clear()
    assert compiled_templates._folder() == own_cache
    assert not stale.exists()
    assert all(file.exists() for file in files)


def test_only_old_cache_files_are_removed(tmp_path: Path) -> None:
    old, recent = tmp_path / "a-old.cache", tmp_path / "a-new.cache"
    other, target = tmp_path / "notes.txt", tmp_path / "elsewhere"
    for path in (old, recent, other, target):
        path.write_bytes(b"x")
    link = tmp_path / "b-link.cache"
    link.symlink_to(target)
    for path in (old, other, target):
        _aged(path, 40)
    now = time.time()
    assert compiled_templates.remove_unused(tmp_path, now - 30 * 86400) == 1
    assert not old.exists()
    assert recent.exists() and other.exists() and target.exists() and link.is_symlink()
