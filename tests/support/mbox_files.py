"""Archives for the import tests, written with the stdlib's own mailbox writers (so the
importer's mbox reader is tested against files it did not write)."""

from __future__ import annotations

import mailbox
from collections.abc import Iterable
from pathlib import Path


def write_mbox(path: Path, mails: Iterable[bytes]) -> Path:
    """``mails`` as one mbox file at ``path`` (``From `` lines quoted by the stdlib)."""
    box = mailbox.mbox(str(path))
    for raw in mails:
        box.add(raw)
    box.close()
    return path
