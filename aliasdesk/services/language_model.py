"""The language detector's model: loaded once per process, when a text is first read for
its language, and read from the package's own file into its final arrays directly.

Why this is not ``LanguageIdentifier.from_model_file``:

* A Dramatiq worker runs several threads. ``functools.cache`` alone lets each thread that
  asks before the first load ends start a load of its own: four threads held four models
  (about 390 MB) at once. One lock makes the others wait for the one load.
* py3langid reads the 37 MB transition table into a NumPy array and then copies it into the
  ``array`` its walk indexes, so both are resident while it loads. Here the table goes from
  the file into the ``array`` a slice at a time.
* py3langid imports NumPy (about 20 MB). Importing it here, at the first load, leaves it out
  of the processes that never detect a language (the gateway, the web pages, the CLI).

The file layout read is py3langid 0.4.0's (``modelio.save_model``); the version is pinned,
and a test compares the model loaded here with the package's own loader.
"""

from __future__ import annotations

import functools
import lzma
import shutil
import tempfile
import threading
import zipfile
from array import array
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from py3langid.langid import LanguageIdentifier

_SLICE = 1 << 20
_TYPECODE = {2: "H", 4: "I", 8: "L"}
_loading = threading.Lock()


def identifier() -> LanguageIdentifier:
    """The process's one model (about a second and 75 MB, once); a thread that asks while
    another loads waits for that load instead of starting its own."""
    with _loading:
        return _load()


def loads_so_far() -> int:
    """How many times this process has loaded the model (for the test that it is once)."""
    return _load.cache_info().misses


@functools.cache
def _load() -> LanguageIdentifier:
    from py3langid.langid import MODEL_DIR, MODEL_FILE, LanguageIdentifier

    with tempfile.TemporaryFile(suffix=".npz") as unpacked:
        # The npz inside is about 65 MB: unpacked to a file, never whole in memory.
        with lzma.open(MODEL_DIR / MODEL_FILE) as packed:
            shutil.copyfileobj(packed, unpacked, length=_SLICE)
        unpacked.seek(0)
        with zipfile.ZipFile(unpacked) as npz:
            ptc, pc, classes, out_feat = (
                _numpy_member(npz, name) for name in ("ptc", "pc", "classes", "out_feat")
            )
            nextmove = _array_member(npz, "nextmove")
            row = _array_member(npz, "nextmove_row")
    return LanguageIdentifier(
        ptc, pc, classes.tolist(), nextmove, out_feat.tolist(), norm_probs=True, tk_row=row
    )


def _numpy_member(npz: zipfile.ZipFile, name: str) -> Any:
    import numpy as np

    with npz.open(f"{name}.npy") as member:
        return np.lib.format.read_array(member, allow_pickle=False)


def _array_member(npz: zipfile.ZipFile, name: str) -> array[int]:
    """An unsigned integer member as the stdlib ``array`` the detector's walk indexes
    (NumPy's per-item indexing would make the walk several times slower), filled a slice
    at a time so the member is never held twice."""
    with npz.open(f"{name}.npy") as member:
        shape, dtype = _header(member)
        if dtype.kind != "u" or dtype.itemsize not in _TYPECODE or len(shape) != 1:
            raise ValueError(f"language model: unexpected {name} layout {dtype}{shape}")
        table = array(_TYPECODE[dtype.itemsize], [0]) * shape[0]
        if table.itemsize != dtype.itemsize:
            raise ValueError(f"language model: no {dtype.itemsize}-byte array type here")
        _fill(member, memoryview(table).cast("B"))
        if not dtype.isnative:
            table.byteswap()
        return table


def _header(member: IO[bytes]) -> tuple[tuple[int, ...], Any]:
    import numpy as np

    version = np.lib.format.read_magic(member)
    read = (
        np.lib.format.read_array_header_1_0
        if version == (1, 0)
        else np.lib.format.read_array_header_2_0
    )
    shape, _fortran, dtype = read(member)  # one dimension: the order does not matter
    return tuple(shape), np.dtype(dtype)


def _fill(member: IO[bytes], into: memoryview) -> None:
    done = 0
    while done < len(into):
        chunk = member.read(min(_SLICE, len(into) - done))
        if not chunk:
            raise ValueError("language model: a table ends early")
        into[done : done + len(chunk)] = chunk
        done += len(chunk)
