"""The language model's cache file: the package's model unpacked once into raw arrays in
this machine's byte order, which every process then maps read-only (see language_model.py
for why).

One file holds it all::

    magic, padded to a page | each table, from a page boundary | JSON header |
    header length, file size (8 bytes each, little-endian) | magic

The header names each table's kind, shape and offset, and the language codes. A file
that does not begin and end with the magic, whose size is not the one it ends with, or
whose tables do not fit before the header, is :class:`Damaged` (a copy cut short, a full
disk): the caller writes it again. The bytes of the tables are not checked: that would
read every page, which is what mapping avoids.
"""

from __future__ import annotations

import contextlib
import json
import math
import mmap
import os
import tempfile
import time
import zipfile
from pathlib import Path
from typing import IO, Any, Literal

FORMAT = 2
"""Raise when the layout changes: it is part of the file's name, so no process reads a
file of another layout. 2: half-precision tables are stored widened (see _copy_table)."""
TABLES = ("ptc", "pc", "nextmove", "nextmove_row", "out_feat")
_MAGIC = b"aliasdesk-langid"
_PAGE = mmap.PAGESIZE
_SLICE = 1 << 20
_STALE_SECONDS = 3600
_TRAILER = 16 + len(_MAGIC)
_KINDS = {"f2", "f4", "u2", "u4", "u8", "i4"}
_INTEGERS: dict[str, Literal["H", "I", "Q", "i"]] = {"u2": "H", "u4": "I", "u8": "Q", "i4": "i"}


class Damaged(ValueError):
    """The cache file is not one this module wrote whole."""


class Table:
    """One array of the model: its element kind (``u4``: unsigned, four bytes), its shape
    and the read-only bytes it occupies in the mapped file."""

    def __init__(self, kind: str, shape: tuple[int, ...], data: memoryview) -> None:
        self.kind, self.shape, self.data = kind, shape, data

    def numpy(self) -> Any:
        import numpy as np

        return np.frombuffer(self.data, dtype=self.kind).reshape(self.shape)

    def integers(self) -> memoryview[int]:
        """An integer table as a view the detector's walk indexes as fast as an ``array``
        (NumPy's per-item indexing would make the walk several times slower)."""
        return self.data.cast(_INTEGERS[self.kind])


def write(npz: zipfile.ZipFile, classes: list[str], path: Path) -> None:
    """Write the cache to ``path`` from the unpacked model: into a temporary file beside
    it, flushed to disk, then renamed over ``path``. A reader sees the old file or the new
    one, never half of one; two processes writing at once each rename a whole file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale(path)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with open(fd, "wb") as out:
            out.write(_MAGIC.ljust(_PAGE, b"\0"))
            tables = {name: _copy_table(npz, name, out) for name in TABLES}
            header = json.dumps({"format": FORMAT, "classes": classes, "tables": tables})
            size = out.tell() + len(header.encode()) + _TRAILER
            out.write(header.encode() + _trailer(len(header.encode()), size))
            out.flush()
            os.fsync(out.fileno())
            _forget(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _forget(fd: int) -> None:
    """Drop the file's pages from the page cache (those no process has mapped): with them
    still there, every page a walk touches would also map the 15 pages around it (the
    kernel's fault-around), and the model would come back resident whole, instead of as
    the pages walks read. Done after writing the file and whenever a process maps it."""
    if hasattr(os, "posix_fadvise"):
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)


def _remove_stale(path: Path) -> None:
    """Temporary files of writers that died (killed while unpacking): an hour is far
    longer than any writer takes."""
    for leftover in path.parent.glob(f".{path.name}.*"):
        with contextlib.suppress(OSError):
            if time.time() - leftover.stat().st_mtime > _STALE_SECONDS:
                leftover.unlink()


def mapped(path: Path) -> tuple[list[str], dict[str, Table]]:
    """The language codes and the tables of the cache at ``path``, mapped read-only.
    FileNotFoundError if there is none; :class:`Damaged` if it is not whole."""
    with open(path, "rb") as file:
        size = os.fstat(file.fileno()).st_size
        if size < _PAGE + _TRAILER:
            raise Damaged(f"{size} bytes")
        mapping = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
        # No read-ahead: a walk jumps about, so a page read from disk is a page it uses
        # (after a restart, 200 requests left 28 MB of the file resident, not 49).
        if hasattr(mmap, "MADV_RANDOM"):
            mapping.madvise(mmap.MADV_RANDOM)
        # Pages another process read and left in the page cache (anything that reads the
        # file whole, such as a comparison of every table) would be mapped around every
        # page a walk touches: with the file read whole beforehand, a serving process held
        # 29.4 MB of it instead of 8.8. Pages that running processes have mapped stay;
        # only the unmapped ones are let go.
        _forget(file.fileno())
        view = memoryview(mapping)
    length = int.from_bytes(view[-_TRAILER : -_TRAILER + 8], "little")
    start = size - _TRAILER - length
    whole = view[:_PAGE] == _MAGIC.ljust(_PAGE, b"\0") and view[-_TRAILER:] == _trailer(
        length, size
    )
    if not whole or start < _PAGE:
        raise Damaged(f"not a whole cache file ({size} bytes)")
    try:
        header = json.loads(bytes(view[start : size - _TRAILER]))
        if header["format"] != FORMAT:
            raise Damaged(f"format {header['format']}")
        tables = {name: _table(view, header["tables"][name], start) for name in TABLES}
        classes = [str(code) for code in header["classes"]]
    except (KeyError, TypeError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise Damaged(f"unreadable header: {exc!r}") from exc
    return classes, tables


def _trailer(header_length: int, size: int) -> bytes:
    """The file's last bytes: the header's length, the whole file's size, the magic."""
    return header_length.to_bytes(8, "little") + size.to_bytes(8, "little") + _MAGIC


def _table(view: memoryview, entry: dict[str, Any], end: int) -> Table:
    kind, shape, offset = entry["kind"], tuple(entry["shape"]), entry["offset"]
    if kind not in _KINDS or not all(isinstance(n, int) and n >= 0 for n in shape):
        raise Damaged(f"a table of kind {kind} and shape {shape}")
    length = math.prod(shape) * int(kind[1])
    if not isinstance(offset, int) or offset < _PAGE or offset % _PAGE or offset + length > end:
        raise Damaged(f"a table at {offset} of {length} bytes, beyond the tables' end {end}")
    return Table(kind, shape, view[offset : offset + length])


def _copy_table(npz: zipfile.ZipFile, name: str, out: IO[bytes]) -> dict[str, Any]:
    """Copy one member of the npz into ``out`` from the next page boundary, a slice at a
    time, in this machine's byte order.

    A half-precision table (the per-feature class weights, 100,053 rows of 142) is
    stored widened to single precision. Scoring a text multiplies the rows of its
    features, and NumPy widens half floats in software before it can hand them to BLAS:
    about 120 µs of a detection's 260 went into that (a generated request's 300 to 400
    rows). Widening is exact, so the scores are the same; the file is 28 MB larger, and
    a walk still touches about one page per row it reads."""
    import numpy as np

    with npz.open(f"{name}.npy") as member:
        shape, fortran, dtype = npy_header(member)
        kind = f"{dtype.kind}{dtype.itemsize}"
        if kind not in _KINDS or (fortran and len(shape) > 1):
            raise ValueError(f"language model: unexpected {name} layout {dtype}{shape}")
        stored = np.dtype("=f4") if kind == "f2" else dtype.newbyteorder("=")
        out.write(b"\0" * (-out.tell() % _PAGE))
        offset, remaining = out.tell(), math.prod(shape) * dtype.itemsize
        while remaining:
            chunk = member.read(min(_SLICE, remaining))
            if not chunk or len(chunk) % dtype.itemsize:
                raise ValueError(f"language model: the table {name} ends early")
            remaining -= len(chunk)
            if stored != dtype:
                chunk = np.frombuffer(chunk, dtype=dtype).astype(stored).tobytes()
            out.write(chunk)
    return {"kind": f"{stored.kind}{stored.itemsize}", "shape": list(shape), "offset": offset}


def npy_header(member: IO[bytes]) -> tuple[tuple[int, ...], bool, Any]:
    """Shape, Fortran order and dtype of an ``.npy`` member, read past its header."""
    import numpy as np

    version = np.lib.format.read_magic(member)
    read = (
        np.lib.format.read_array_header_1_0
        if version == (1, 0)
        else np.lib.format.read_array_header_2_0
    )
    shape, fortran, dtype = read(member)
    return tuple(shape), bool(fortran), np.dtype(dtype)
