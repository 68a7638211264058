"""Files at rest: what aliasdesk writes is readable by its own user only.

The database holds every mail sent to HR; saved attachments and exports hold the same.
A caller's umask (often 022) would leave them world-readable, so files are made 0600 and
folders 0700 whatever the umask: the command sets a private umask for the whole process
(so every command's files and folders, and those SQLite makes itself, are private), and
the database file is made 0600 explicitly for callers that run without the command
(tests, embedding), since SQLite gives its journal files the database file's mode.
A database file found with wider permissions is tightened when it is opened, and logged,
because a copy restored from a backup or made by an older version keeps its old mode.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

__all__ = [
    "FILE_MODE",
    "FOLDER_MODE",
    "PRIVATE_UMASK",
    "private_sqlite_file",
    "restrict_process",
    "tighten",
]

log = logging.getLogger("aliasdesk.files")
FILE_MODE = 0o600
FOLDER_MODE = 0o700
PRIVATE_UMASK = 0o077
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")
"""The files SQLite keeps beside a database; they hold the same mail."""


def restrict_process() -> None:
    """From now on this process creates no file or folder others can read."""
    os.umask(PRIVATE_UMASK)


def tighten(path: Path) -> bool:
    """Take group and other permissions off ``path`` if it has any; True when it had.

    A symbolic link is left alone: its target may be anything, e.g. /dev/null.
    """
    try:
        info = path.lstat()
    except FileNotFoundError:
        return False
    if stat.S_ISLNK(info.st_mode) or not info.st_mode & 0o077:
        return False
    wanted = FOLDER_MODE if stat.S_ISDIR(info.st_mode) else FILE_MODE
    path.chmod(stat.S_IMODE(info.st_mode) & wanted)
    log.warning(
        "event=permissions_tightened path=%s was=%o now=%o",
        path,
        stat.S_IMODE(info.st_mode),
        stat.S_IMODE(info.st_mode) & wanted,
    )
    return True


def private_sqlite_file(database: Path) -> None:
    """Make sure the database file exists as 0600 before SQLite opens it.

    SQLite gives its -wal, -shm and -journal files the mode of the database file, so a
    private database keeps them private too; leftovers with wider modes are tightened.
    A folder that does not exist is not made: SQLite's own error says so more clearly.
    """
    if not database.parent.is_dir():
        return
    try:
        descriptor = os.open(database, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        pass
    except OSError as error:  # read-only folder etc.: SQLite reports it when it connects
        log.debug("event=database_not_precreated path=%s error=%s", database, error)
        return
    else:
        os.close(descriptor)
    if not _is_sqlite_database(database):
        return  # a mistyped URL (a folder, /etc/passwd): not ours to change
    for path in (database, *(Path(f"{database}{suffix}") for suffix in SQLITE_COMPANIONS)):
        tighten(path)


_SQLITE_HEADER = b"SQLite format 3\x00"


def _is_sqlite_database(path: Path) -> bool:
    """A regular file that is empty (made just now) or begins as every SQLite database
    does: only such a file, and its companions, have their permissions tightened."""
    try:
        info = path.lstat()
        if not stat.S_ISREG(info.st_mode):
            return False
        with open(path, "rb") as file:
            head = file.read(len(_SQLITE_HEADER))
    except OSError:
        return False
    return head in (b"", _SQLITE_HEADER)
