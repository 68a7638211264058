"""The per-user cache folder: work a process would otherwise redo at every start (the
language model unpacked, the notification templates compiled), kept where only this
user can write.

``$XDG_CACHE_HOME/aliasdesk``, else ``~/.cache/aliasdesk`` (no ``ALIASDESK_*`` setting:
nothing in it is the operator's to choose, and any of it may be deleted at any time).
What is cached there is executed or mapped as code and data, so a folder is only used
when it is a real folder (not a link) owned by this user that no one else may write to;
anything else is refused and the caller does the work itself.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from aliasdesk.private_files import FOLDER_MODE
from aliasdesk.settings.environment import environment_value


def cache_directory() -> Path | None:
    """``$XDG_CACHE_HOME/aliasdesk``, else ``~/.cache/aliasdesk``; None when there is no
    home to find it in."""
    base = environment_value("XDG_CACHE_HOME")
    if base and Path(base).is_absolute():  # the XDG rule: a relative path is ignored
        return Path(base) / "aliasdesk"
    try:
        return Path.home() / ".cache" / "aliasdesk"
    except RuntimeError:
        return None


class UnsafeFolder(OSError):
    """A cache folder someone else could write to: nothing in it may be trusted."""


def private_folder(name: str) -> Path:
    """The cache's folder ``name``, made 0700 if it is not there; raises ``OSError``
    (``UnsafeFolder`` among them) when it cannot be made or cannot be trusted."""
    root = cache_directory()
    if root is None:
        raise OSError("no home folder to keep a cache in")
    base = root.parent
    if base.is_dir() and _others_may_rename_in(base):
        raise UnsafeFolder(f"{base} lets other users replace what is in it")
    # The cache's own folder is checked before anything is made inside it: a link there
    # must not get a folder of ours made wherever it points.
    root.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)
    _check_owned(root)
    folder = root / name
    folder.mkdir(mode=FOLDER_MODE, exist_ok=True)
    _check_owned(folder)
    return folder


def _check_owned(path: Path) -> None:
    info = path.lstat()
    if not stat.S_ISDIR(info.st_mode):
        raise UnsafeFolder(f"{path} is not a folder")
    if info.st_uid != os.geteuid() or info.st_mode & 0o022:
        raise UnsafeFolder(f"{path} is writable by another user")


def _others_may_rename_in(folder: Path) -> bool:
    """Another user could put a folder of their own in place of ours: ``folder`` is
    writable by group or others without the sticky bit (``/tmp`` has it)."""
    info = folder.stat()
    return bool(info.st_mode & 0o022) and not info.st_mode & stat.S_ISVTX
