"""The language model as aliasdesk loads it: the package's own model, loaded once however
many threads ask at once, and not at all in a process that never reads a text for its
language."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from array import array
from pathlib import Path

import numpy as np
import py3langid
import pytest
from py3langid.langid import MODEL_FILE, LanguageIdentifier

from aliasdesk.services import language_model, language_model_cache
from aliasdesk.services.language_model import identifier
from aliasdesk.services.languages import detect_language

ROOT = Path(__file__).resolve().parents[2]
TEXTS = {
    "it": "Il portatile non si accende più da ieri sera, potete aiutarmi per favore?",
    "de": "Guten Tag, mein Laptop startet seit gestern nicht mehr. Können Sie mir helfen?",
    "nl": "Goedemiddag, mijn laptop start sinds gisteren niet meer op. Kunt u mij helpen?",
    "fr": "Bonjour, mon ordinateur ne démarre plus depuis hier soir. Pouvez-vous m'aider ?",
    "es": "Hola, mi portátil no arranca desde ayer por la noche. ¿Me pueden ayudar, por favor?",
    "en": "Hello, my laptop has not started since last night. Could you help me, please?",
    "ru": "Здравствуйте, мой ноутбук не включается со вчерашнего вечера. Помогите, пожалуйста.",
    "el": "Καλησπέρα, ο φορητός μου υπολογιστής δεν ανοίγει από χθες. Μπορείτε να βοηθήσετε;",
}


_AT_ONCE = f"""
import json, pathlib, sys, time
from aliasdesk.services import language_model
cache, ready = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
unpack, unpacked = language_model._unpacked, []

def both_at_once(source):
    # Both processes unpack before either writes: they write the cache at the same time.
    unpacked.append(source)
    ready.touch()
    deadline = time.monotonic() + 60
    while len(list(ready.parent.glob("ready-*"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    return unpack(source)

language_model._unpacked = both_at_once
model = language_model.load(cache)
how = "mapped" if isinstance(model.tk_nextmove, memoryview) else "in memory"
got = {{language: [model.classify(text)[0], how] for language, text in {TEXTS!r}.items()}}
print(json.dumps({{"unpacked": len(unpacked), **got}}))
"""

_THREADS = """
import json, sys, threading
import gateway.process, worker.dispatch, aliasdesk.runtime
numpy_before = "numpy" in sys.modules
from aliasdesk.services import language_model
got = []
threads = [threading.Thread(target=lambda: got.append(id(language_model.identifier())))
           for _ in range(6)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(json.dumps({"numpy_before": numpy_before, "loads": language_model.loads_so_far(),
                  "models": len(set(got)), "answers": len(got)}))
"""


@pytest.fixture(scope="module")
def theirs() -> LanguageIdentifier:
    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def assert_same_model(
    ours: LanguageIdentifier, theirs: LanguageIdentifier, weights: type = np.float32
) -> None:
    """The same model and answers. A mapped model's class weights are single precision
    (the package's half floats, widened exactly: scoring would widen them on every text);
    one unpacked into memory keeps the package's half precision."""
    assert np.array_equal(ours.nb_ptc, theirs.nb_ptc) and ours.nb_ptc.dtype == weights
    assert np.array_equal(ours.nb_pc, theirs.nb_pc) and ours.nb_pc.dtype == theirs.nb_pc.dtype
    assert ours.nb_classes == theirs.nb_classes
    assert bytes(ours.tk_nextmove) == bytes(theirs.tk_nextmove)
    assert memoryview(ours.tk_nextmove).format == theirs.tk_nextmove.typecode
    assert list(ours.tk_row) == list(theirs.tk_row)
    assert list(ours.tk_output) == list(theirs.tk_output)
    assert list(ours._rowbase) == list(theirs._rowbase)  # what the walk reads
    for language, text in TEXTS.items():
        assert ours.classify(text) == theirs.classify(text)
        assert ours.classify(text)[0] == language


def the_cache(directory: Path) -> Path:
    (path,) = directory.iterdir()  # one file, no temporary one left behind
    return path


def test_the_model_is_the_packages_own_model(theirs: LanguageIdentifier) -> None:
    assert_same_model(identifier(), theirs)


def test_the_mapped_model_is_the_packages_own_model(
    tmp_path: Path, theirs: LanguageIdentifier
) -> None:
    ours = language_model.load(tmp_path)
    assert isinstance(ours.tk_nextmove, memoryview) and ours.tk_nextmove.readonly
    assert not ours.nb_ptc.flags.writeable  # mapped read-only: shared, never copied
    assert the_cache(tmp_path).name.startswith(f"py3langid-{py3langid.__version__}-")
    assert_same_model(ours, theirs)


def test_widened_weights_give_the_very_same_scores(
    tmp_path: Path, theirs: LanguageIdentifier
) -> None:
    """Mixed texts too, whose scores lie between languages: the same language and the
    same probability to the last bit, so no text falls on the other side of a threshold."""
    ours = language_model.load(tmp_path)
    words = [text.split() for text in TEXTS.values()]
    mixed = [
        " ".join(a[i:] + b[: i + 3])
        for a in words
        for b in words
        for i in range(0, min(len(a), len(b)), 3)
    ]
    assert len(mixed) > 100
    for text in mixed:
        assert ours.classify(text) == theirs.classify(text)


def resident_megabytes(path: Path) -> float:
    """How much of ``path`` this process's mappings hold in memory (/proc/self/smaps)."""
    kilobytes, inside = 0, False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        if line[:1] in "0123456789abcdef" and "-" in line.split(" ", 1)[0]:
            inside = line.endswith(f" {path}")
        elif inside and line.startswith("Rss:"):
            kilobytes += int(line.split()[1])
    return kilobytes / 1024


def test_only_the_pages_a_text_walks_through_become_resident(tmp_path: Path) -> None:
    ours = language_model.load(tmp_path)
    path = the_cache(tmp_path)
    assert resident_megabytes(path) < 1  # the header's pages
    for text in TEXTS.values():
        ours.classify(text)
    # Eight texts, with the 60 KB around every page they touch: a few MB of the 68.
    assert 0 < resident_megabytes(path) < 16 < path.stat().st_size / 2**20


def test_pages_another_process_left_cached_are_not_mapped_around_a_walk(
    tmp_path: Path,
) -> None:
    """An import reads most of the file; left in the page cache, its pages would all be
    mapped around the pages a walk touches (the kernel's fault-around): 46 MB for these
    eight texts, where mapping the file lets go of the pages nobody has mapped: 4 MB."""
    language_model.load(tmp_path)  # writes the cache
    path = the_cache(tmp_path)
    path.read_bytes()  # the whole file in the page cache, as after an import
    ours = language_model.load(tmp_path)
    for text in TEXTS.values():
        ours.classify(text)
    assert 0 < resident_megabytes(path) < 16


def test_a_mapped_model_holds_no_table_in_python_ints(tmp_path: Path) -> None:
    """What a load keeps in the process's own memory, besides the mapped file: lists of
    Python ints for the per-state tables would be 8 MB, for good, in every process that
    detects; arrays and views of them are under a megabyte."""
    import tracemalloc

    language_model.load(tmp_path)  # writes the cache
    tracemalloc.start()
    try:
        ours = language_model.load(tmp_path)
        held, _peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert ours.classify(TEXTS["de"])[0] == "de"
    assert held < 2**20


def test_a_second_load_maps_the_cache_without_unpacking_the_model(
    tmp_path: Path, theirs: LanguageIdentifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    language_model.load(tmp_path)
    written = the_cache(tmp_path).stat()

    def unpack(source: Path) -> None:
        raise AssertionError(f"unpacked {source} again")

    monkeypatch.setattr(language_model, "_unpacked", unpack)
    assert_same_model(language_model.load(tmp_path), theirs)
    again = the_cache(tmp_path).stat()
    assert (again.st_ino, again.st_mtime_ns) == (written.st_ino, written.st_mtime_ns)


@pytest.mark.parametrize("damage", ["cut short", "emptied", "tail overwritten", "grown"])
def test_a_cache_file_that_is_not_whole_is_written_again(
    tmp_path: Path, theirs: LanguageIdentifier, damage: str
) -> None:
    language_model.load(tmp_path)
    path = the_cache(tmp_path)
    size = path.stat().st_size
    if damage == "cut short":
        os.truncate(path, size // 2)
    elif damage == "emptied":
        os.truncate(path, 0)
    elif damage == "tail overwritten":
        with open(path, "r+b") as file:
            file.seek(size - 40)
            file.write(b"\xff" * 40)
    else:
        with open(path, "ab") as file:
            file.write(b"\0" * 4096)
    with pytest.raises(language_model_cache.Damaged):
        language_model_cache.mapped(path)
    assert_same_model(language_model.load(tmp_path), theirs)
    assert the_cache(tmp_path).stat().st_size == size
    language_model_cache.mapped(path)  # whole again


def test_writing_the_cache_removes_what_a_writer_that_died_left_behind(tmp_path: Path) -> None:
    language_model.load(tmp_path)
    path = the_cache(tmp_path)
    old, fresh = tmp_path / f".{path.name}.old", tmp_path / f".{path.name}.fresh"
    for leftover in (old, fresh):
        leftover.write_bytes(b"half a model")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    os.truncate(path, 0)
    language_model.load(tmp_path)
    assert sorted(tmp_path.iterdir()) == sorted([path, fresh])  # a writer may still be at it


def test_a_cache_that_cannot_be_written_falls_back_to_memory(
    tmp_path: Path, theirs: LanguageIdentifier, caplog: pytest.LogCaptureFixture
) -> None:
    blocked = tmp_path / "a file"  # no folder can be made under it, not even by root
    blocked.write_bytes(b"")
    with caplog.at_level(logging.WARNING, logger="aliasdesk.language"):
        ours = language_model.load(blocked / "aliasdesk")
    assert isinstance(ours.tk_nextmove, array)
    assert_same_model(ours, theirs, weights=np.float16)
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "loaded into memory" in warnings[0]


def test_the_cache_lives_in_the_users_cache_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert language_model.cache_directory() == tmp_path / "aliasdesk" / "language-model"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")  # ignored, as XDG says
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    expected = tmp_path / "home" / ".cache" / "aliasdesk" / "language-model"
    assert language_model.cache_directory() == expected


def _refuse(cache_home: Path, how: str) -> Path:
    """Make the cache under ``cache_home`` one that user_cache refuses, ``how``; returns
    the folder a model would be written into if the cache were used all the same."""
    root = cache_home / "aliasdesk"
    elsewhere = cache_home.parent / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    if how == "a parent others may write to":
        cache_home.mkdir(mode=0o777)
        cache_home.chmod(0o777)  # no sticky bit: another user could swap our folder
        return cache_home
    root.mkdir(parents=True, mode=0o700)
    if how == "a folder others may write to":
        root.chmod(0o777)
    elif how == "another user's folder":
        if os.geteuid() != 0:
            pytest.skip("only root can give a folder to another user")
        os.chown(root, 65534, 65534)
    elif how == "a link in place of the cache":
        root.rmdir()
        root.symlink_to(elsewhere)
        return elsewhere
    else:  # a link in place of the model's own folder
        (root / "language-model").symlink_to(elsewhere)
        return elsewhere
    return root


@pytest.mark.parametrize(
    "how",
    [
        "a folder others may write to",
        "a parent others may write to",
        "another user's folder",
        "a link in place of the cache",
        "a link in place of the model's folder",
    ],
)
def test_a_cache_folder_that_cannot_be_trusted_is_never_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, how: str
) -> None:
    """Another user could put a model of their own there: it would be mapped as ours."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    watched = _refuse(tmp_path / "cache", how)
    with caplog.at_level(logging.INFO, logger="aliasdesk.language"):
        ours = language_model.load(language_model.cache_directory())
    assert isinstance(ours.tk_nextmove, array)  # unpacked into memory, not mapped
    assert ours.classify(TEXTS["de"])[0] == "de"
    logged = [record.getMessage() for record in caplog.records]
    assert len(logged) == 1 and "loaded into memory" in logged[0]
    assert [path for path in watched.rglob("*") if not path.is_dir()] == []


def test_two_processes_writing_the_cache_at_once_both_get_a_whole_model(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    started = [
        subprocess.Popen(
            [sys.executable, "-c", _AT_ONCE, str(cache), str(tmp_path / f"ready-{n}")],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        for n in range(2)
    ]
    answers = [json.loads(process.communicate(timeout=120)[0]) for process in started]
    assert [process.returncode for process in started] == [0, 0]
    expected = {language: [language, "mapped"] for language in TEXTS}
    assert answers == [{"unpacked": 1, **expected}] * 2
    language_model_cache.mapped(the_cache(cache))


def test_detection_reads_the_languages_we_write_and_drops_the_others() -> None:
    german = "Guten Tag, mein Laptop startet seit gestern nicht mehr. Können Sie mir helfen?"
    dutch = "Goedemiddag, mijn laptop start sinds gisteren niet meer op. Kunt u mij helpen?"
    italian = "Il portatile non si accende più da ieri sera, potete aiutarmi per favore?"
    assert detect_language(german) == "de"
    assert detect_language(dutch) == "nl"
    assert detect_language(italian) is None


def test_threads_asking_at_once_share_one_load_and_processes_import_it_only_then() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _THREADS],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    facts = json.loads(done.stdout.strip().splitlines()[-1])
    assert facts == {"numpy_before": False, "loads": 1, "models": 1, "answers": 6}
