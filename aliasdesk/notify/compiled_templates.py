"""Notification templates compiled once per machine, not once per process start.

Every long-running process renders each notification kind in each language once before
it starts (notify/template_check.py), and every job process compiles the templates its
first mails need: about 400 templates, 0.85 s of CPU per process, most of it Jinja's
compiler. Jinja can keep the compiled code of a template on disk and load it in a
fraction of that time. The files are kept in the per-user cache (aliasdesk.user_cache),
one per template, language and everything else the compiled code depends on:

* the template's file (name and path) and its source, which Jinja itself checks;
* the language's catalog, since ``{% trans %}`` blocks are compiled to their translation
  (notify/translated_blocks.py): an edited catalog must compile anew;
* this code's own way of compiling (the extension and the environment's options, read
  from their modules' source), Jinja's version and Python's.

A folder that cannot be made or trusted (see user_cache) means no cache: every template
is compiled as before, with one warning per process.

Every edit of a template or a catalog, and every upgrade, adds files; the old ones are
never read again. A file is touched whenever it is loaded, and each process removes the
files nobody has loaded or written for ``KEPT_DAYS`` when it first uses the folder, so
the folder holds what the versions in use need instead of growing for good.
"""

from __future__ import annotations

import contextlib
import functools
import gettext
import hashlib
import logging
import os
import time
from pathlib import Path

import jinja2

from aliasdesk import user_cache

log = logging.getLogger("aliasdesk.notify")
FOLDER = "templates"
_COMPILING_MODULES = ("render.py", "translated_blocks.py", "compiled_templates.py")
KEPT_DAYS = 30
"""A compiled template nobody loaded for this long is removed (any process re-makes it)."""
_SUFFIX = ".cache"


@functools.cache
def _folder() -> Path | None:
    try:
        folder = user_cache.private_folder(FOLDER)
    except OSError as error:
        log.warning("event=template_cache_unusable error=%s; templates are compiled", error)
        return None
    removed = remove_unused(folder, time.time() - KEPT_DAYS * 86400)
    if removed:
        log.info("event=template_cache_pruned files=%d", removed)
    return folder


def remove_unused(folder: Path, before: float) -> int:
    """Remove the compiled templates in ``folder`` last loaded or written before
    ``before`` (a time in seconds); returns how many. Only regular files named as the
    cache names them; one that goes meanwhile (another process pruning) is skipped."""
    removed = 0
    with os.scandir(folder) as entries:
        for entry in entries:
            if not entry.name.endswith(_SUFFIX):
                continue
            with contextlib.suppress(OSError):
                if entry.is_file(follow_symlinks=False) and entry.stat().st_mtime < before:
                    os.unlink(entry.path)
                    removed += 1
    return removed


class TouchedBytecodeCache(jinja2.FileSystemBytecodeCache):
    """Jinja's file cache, touching a file each time it is loaded: its time then says
    when a process last used it (see ``remove_unused``)."""

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        super().load_bytecode(bucket)
        if bucket.code is not None:
            with contextlib.suppress(OSError):
                os.utime(os.path.join(self.directory, self.pattern % bucket.key))


@functools.cache
def _compiler_digest() -> str | None:
    """What the compiled code depends on besides the template and the catalog; None when
    the compiling code's source cannot be read (an install without .py files), and with
    it no cache, since a changed compiler could not be told from the old one."""
    digest = hashlib.sha256(jinja2.__version__.encode())
    here = Path(__file__).resolve().parent
    try:
        for name in _COMPILING_MODULES:
            digest.update((here / name).read_bytes())
    except OSError as error:
        log.warning("event=template_cache_unusable error=%s; templates are compiled", error)
        return None
    return digest.hexdigest()


def catalog_digest(catalog: gettext.NullTranslations) -> str:
    """The catalog's words as one digest (the English msgids alone for none)."""
    words = getattr(catalog, "_catalog", None) or {}
    digest = hashlib.sha256()
    for key, value in sorted(words.items(), key=lambda item: repr(item[0])):
        digest.update(repr((key, value)).encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


def bytecode_cache(language: str, catalog: gettext.NullTranslations) -> jinja2.BytecodeCache | None:
    """The cache for one language's environment; None when there is no usable folder."""
    folder, compiler = _folder(), _compiler_digest()
    if folder is None or compiler is None:
        return None
    salt = hashlib.sha256(f"{language}:{catalog_digest(catalog)}:{compiler}".encode()).hexdigest()[
        :24
    ]
    return TouchedBytecodeCache(str(folder), pattern=f"{language}-{salt}-%s{_SUFFIX}")
