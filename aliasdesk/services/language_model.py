"""The language detector's model: loaded once per process, when a text is first read for
its language, and mapped read-only from a cache file that the first process unpacked.

Why this is not ``LanguageIdentifier.from_model_file``:

* A Dramatiq worker runs several threads. ``functools.cache`` alone lets each thread that
  asks before the first load ends start a load of its own: four threads held four models
  (about 390 MB) at once. One lock makes the others wait for the one load.
* py3langid unpacks its model (lzma, then npz) into private memory in every process:
  about 0.5 s of CPU and 75 MB each, most of which one text's walk never reads.
* py3langid imports NumPy (about 20 MB). Importing it here, at the first load, leaves it out
  of the processes that never detect a language (the gateway, the web pages, the CLI).

The cache (language_model_cache.py holds its layout): the model's arrays as raw bytes in
this machine's byte order, in one file per model in the per-user cache's folder
``language-model`` (aliasdesk.user_cache: ``$XDG_CACHE_HOME/aliasdesk/``, else
``~/.cache/aliasdesk/``; no ``ALIASDESK_*`` setting, as nothing in it is the operator's to
choose). Its name holds py3langid's version, the size and modification time of the
package's model file and the cache's own format, so an upgrade writes a new file instead
of reading a stale one; an old file can be deleted at any time.
Every process maps it read-only (``mmap``): a page is read from disk once, shared by all
processes through the page cache, and counts in a process's memory only once a walk
has touched it. The transition table, the per-class weights, the row table and the
state-to-feature table stay mapped (a ``memoryview`` is indexed as fast as an ``array``).
py3langid would keep each state's row offset as a list of Python ints, and a list of the
state-to-feature table was passed to it: 4 MB each, for good, in every process that
detects. The offsets are an ``array`` instead and the feature table stays a view. A list
is indexed faster (it hands out ints it holds instead of making one): the walk of a
generated request went from 76 to 95 µs, about 20 µs a mail against the 6.6 ms of CPU a
mail costs ``run`` in all, for 7.7 MB less in ``run`` and in every worker.

What it measured (2 cores; 200 generated requests, then the 1,901 corpus mails): a load
went from 0.35 s of CPU to 0.01 s (the first process on the machine still pays 0.35 s,
once); a process's RSS after the 200 requests from 112 to 56 MB, and
``bench.worker_cpu``'s from 199 to 143 MB. The written file is dropped from the page
cache, so only pages some walk read come back; the kernel maps the cached pages around
each one a walk touches, so a machine whose walks have read more (many languages) shows
more in every process: after the corpus, 109 MB against 129 (``worker_cpu`` then peaks
at 162), but those pages are shared: with two processes each one's PSS is 68 MB
against 112.

The first process to load writes the cache into a temporary file and renames it into
place, so two processes starting at once each write a whole file and read a whole file;
a file is never changed in place, so a mapped one never shrinks under a process. A cache
file that is not whole (cut short, damaged) is written again. When the cache can be
neither read nor written (no home folder, a read-only one, a full disk), or its folder
cannot be trusted (a link, another user's, one others may write to: user_cache refuses
it), the model is unpacked into the process's memory as before, with one warning in the
log. There is no second place to try: beside the installed package is read-only wherever
it is installed by another user (the container image), and a shared temporary folder
would let another user's file be mapped as the model.

The layout read is py3langid 0.4.0's (``modelio.save_model``); the version is pinned,
and a test compares the model loaded here with the package's own loader.
"""

from __future__ import annotations

import functools
import logging
import lzma
import shutil
import sys
import tempfile
import threading
import zipfile
from array import array
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from aliasdesk import user_cache
from aliasdesk.services import language_model_cache as cache

if TYPE_CHECKING:
    from py3langid.langid import LanguageIdentifier

log = logging.getLogger("aliasdesk.language")

FOLDER = "language-model"
"""The model's folder in the per-user cache, beside the compiled templates'."""
_SLICE = 1 << 20
_TYPECODE = {2: "H", 4: "I", 8: "L"}
_loading = threading.Lock()


def identifier() -> LanguageIdentifier:
    """The process's one model (mapped in milliseconds; the first process on a machine
    unpacks it in about half a second); a thread that asks while another loads waits for
    that load instead of starting its own."""
    with _loading:
        return _load()


def loads_so_far() -> int:
    """How many times this process has loaded the model (for the test that it is once)."""
    return _load.cache_info().misses


@functools.cache
def _load() -> LanguageIdentifier:
    return load(cache_directory())


def cache_directory() -> Path | None:
    """Where the unpacked model is kept: its folder in the per-user cache, made if it is
    not there; None, with one warning, when that folder cannot be made or trusted."""
    try:
        return user_cache.private_folder(FOLDER)
    except OSError as error:
        log.warning("language model: no cache (%s); loaded into memory", error)
        return None


def load(directory: Path | None) -> LanguageIdentifier:
    """The model mapped from its cache file in ``directory``, which is written first if
    it is missing or not whole; unpacked into memory if the cache can't be used."""
    from py3langid import __version__
    from py3langid.langid import MODEL_DIR, MODEL_FILE

    source = MODEL_DIR / MODEL_FILE
    if directory is not None:
        stat = source.stat()
        name = f"py3langid-{__version__}-{stat.st_size}-{stat.st_mtime_ns}"
        path = directory / f"{name}-{cache.FORMAT}-{sys.byteorder}.model"
        try:
            return _mapped(path, source)
        except (OSError, cache.Damaged) as exc:
            log.warning("language model: no cache at %s (%s); loaded into memory", path, exc)
    return _in_memory(source)


def _mapped(path: Path, source: Path) -> LanguageIdentifier:
    try:
        return _identifier(*cache.mapped(path))
    except FileNotFoundError:
        pass
    except cache.Damaged as exc:
        log.warning(
            "language model: the cache at %s is not whole (%s); writing it again", path, exc
        )
    log.info("language model: unpacking it into %s, once for every process", path)
    with _unpacked(source) as npz:
        cache.write(npz, _numpy_member(npz, "classes").tolist(), path)
    return _identifier(*cache.mapped(path))


def _identifier(classes: list[str], tables: dict[str, cache.Table]) -> LanguageIdentifier:
    from py3langid.langid import LanguageIdentifier

    model = LanguageIdentifier(
        tables["ptc"].numpy(),
        tables["pc"].numpy(),
        classes,
        tables["nextmove"].integers(),
        tables["out_feat"].integers(),
        norm_probs=True,
        tk_row=(),
    )
    return _with_rows(model, tables["nextmove_row"].integers())


def _with_rows(model: LanguageIdentifier, row: Sequence[int]) -> LanguageIdentifier:
    """``model`` walking ``row``, its row offsets pre-shifted into an ``array`` (0.8 MB)
    where py3langid 0.4.0 would make a list of them (4 MB; the model was built on no
    rows, so that list is empty): the walk reads them from ``_rowbase``."""
    model.tk_row = row
    model._rowbase = array("L", (offset << 8 for offset in row))
    return model


@contextmanager
def _unpacked(source: Path) -> Iterator[zipfile.ZipFile]:
    """The package's model as the npz inside its lzma file, unpacked to a temporary file
    (about 65 MB: never whole in memory)."""
    with tempfile.TemporaryFile(suffix=".npz") as unpacked:
        with lzma.open(source) as packed:
            shutil.copyfileobj(packed, unpacked, length=_SLICE)
        unpacked.seek(0)
        with zipfile.ZipFile(unpacked) as npz:
            yield npz


def _in_memory(source: Path) -> LanguageIdentifier:
    from py3langid.langid import LanguageIdentifier

    with _unpacked(source) as npz:
        ptc, pc, classes, out_feat = (
            _numpy_member(npz, name) for name in ("ptc", "pc", "classes", "out_feat")
        )
        nextmove = _array_member(npz, "nextmove")
        row = _array_member(npz, "nextmove_row")
    features = array("i", out_feat.astype("intc").tobytes())
    model = LanguageIdentifier(
        ptc, pc, classes.tolist(), nextmove, features, norm_probs=True, tk_row=()
    )
    return _with_rows(model, row)


def _numpy_member(npz: zipfile.ZipFile, name: str) -> Any:
    import numpy as np

    with npz.open(f"{name}.npy") as member:
        return np.lib.format.read_array(member, allow_pickle=False)


def _array_member(npz: zipfile.ZipFile, name: str) -> array[int]:
    """An unsigned integer member as the stdlib ``array`` the detector's walk indexes
    (NumPy's per-item indexing would make the walk several times slower), filled a slice
    at a time so the member is never held twice."""
    with npz.open(f"{name}.npy") as member:
        shape, _fortran, dtype = cache.npy_header(member)
        if dtype.kind != "u" or dtype.itemsize not in _TYPECODE or len(shape) != 1:
            raise ValueError(f"language model: unexpected {name} layout {dtype}{shape}")
        table = array(_TYPECODE[dtype.itemsize], [0]) * shape[0]
        if table.itemsize != dtype.itemsize:
            raise ValueError(f"language model: no {dtype.itemsize}-byte array type here")
        _fill(member, memoryview(table).cast("B"))
        if not dtype.isnative:
            table.byteswap()
        return table


def _fill(member: IO[bytes], into: memoryview) -> None:
    done = 0
    while done < len(into):
        chunk = member.read(min(_SLICE, len(into) - done))
        if not chunk:
            raise ValueError("language model: a table ends early")
        into[done : done + len(chunk)] = chunk
        done += len(chunk)
