"""``aliasdesk attachments get REF N -o FILE``: save one attachment of a ticket.

The admin names the file; the stored file name (the sender's choice) never decides where
anything is written. An existing file is never overwritten without ``--force``, and the
file is readable by its owner alone (0600): attachments are other people's mail.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from pathlib import Path

from aliasdesk.db.queries import ticket_by_ref
from aliasdesk.db.session import Database
from aliasdesk.domain.refs import RefError
from aliasdesk.services.attachments import by_number

PRIVATE = 0o600


def attachments_get(db: Database, ref: str, number: int, target: Path, *, force: bool) -> int:
    with db.reader() as session:
        try:
            ticket = ticket_by_ref(session, ref)
        except RefError as error:
            return _fail(str(error), 2)
        if ticket is None:
            return _fail(f"no ticket {ref.upper()}", 1)
        row = by_number(session, ticket, number)
        if row is None:
            return _fail(f"{ticket.ref} has no attachment {number} (see tickets show)", 1)
        data, filename = row.data, row.filename
    if data is None:
        return _fail(f"attachment {number} of {ref.upper()} ({filename}) was not kept", 1)
    problem = _refusal(target, force=force)
    if problem is not None:
        return _fail(problem, 1)
    try:
        _write(target, data, force=force)
    except OSError as error:
        return _fail(f"cannot write {target}: {error.strerror or error}", 1)
    print(f"{target}: {len(data)} bytes")
    return 0


def _refusal(target: Path, *, force: bool) -> str | None:
    if target.is_dir():
        return f"{target} is a folder: name the file to write"
    if (target.exists() or target.is_symlink()) and not force:
        return f"{target} exists: not overwritten (--force to replace it)"
    return None


def _write(target: Path, data: bytes, *, force: bool) -> None:
    """Without ``force``: create the file exclusively, never following a link. With it:
    write beside it and rename over it, so a link at ``target`` is replaced, not
    followed, and a crash leaves the old file or the new one, never half of one."""
    if not force:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, PRIVATE)
        _fill(fd, data)
        return
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=".aliasdesk-")
    try:
        _fill(fd, data)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _fill(fd: int, data: bytes) -> None:
    with os.fdopen(fd, "wb") as out:
        os.fchmod(out.fileno(), PRIVATE)  # whatever the umask made of it
        out.write(data)
        out.flush()
        os.fsync(out.fileno())


def _fail(message: str, code: int) -> int:
    print(f"aliasdesk attachments get: {message}", file=sys.stderr)
    return code
