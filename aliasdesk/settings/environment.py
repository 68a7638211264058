"""The process environment, read here and nowhere else in the application.

Most settings are loaded once into :class:`aliasdesk.settings.env.Settings`. A few tuning
knobs (heartbeat, publish lease, delivery back-off, worker threads) are read at the moment
they are used, so a test or an operator can change them between runs of one process; they
come through these functions so that nothing outside ``aliasdesk.settings`` touches
``os.environ`` and every variable the product reads can be found in one package. Those
knobs are settings too (CONTRACT §2): an ``ALIASDESK_*`` variable is looked up as
``load_settings`` looks it up, in the environment first, then in the working folder's
``.env``, and an empty value counts as unset.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

from dotenv import dotenv_values

PREFIX = "ALIASDESK_"
ENV_FILE = Path(".env")
log = logging.getLogger("aliasdesk.settings")


def environment_value(variable: str, default: str = "") -> str:
    """The variable's current value, or ``default`` when it is unset. For an
    ``ALIASDESK_*`` variable the working folder's ``.env`` counts too (the environment
    wins), and an empty value is unset, as for every other setting."""
    value = os.environ.get(variable)
    if not variable.startswith(PREFIX):
        return default if value is None else value
    if value is None:
        value = _env_file_values().get(variable)
    return default if value is None or not value.strip() else value


def environment_count(variable: str, default: int, *, least: int = 1) -> int:
    """A whole-number knob (worker threads, milliseconds). A value that is not a whole
    number of at least ``least`` keeps the default, with one error in the log: a typo in
    a tuning setting must not stop the process that reads it."""
    text = environment_value(variable).strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        value = least - 1
    if value < least:
        log.error("event=bad_setting variable=%s value=%r default=%s", variable, text, default)
        return default
    return value


def _env_file_values() -> dict[str, str]:
    """``.env``'s values, read again only when the file changes (the knobs are read each
    time they are used). A file that cannot be read gives nothing here: the command's
    ``load_settings`` names it at start-up."""
    try:
        status = ENV_FILE.stat()
    except OSError:
        return {}
    return _read_env_file(str(ENV_FILE.resolve()), status.st_mtime_ns, status.st_size)


@lru_cache(maxsize=4)
def _read_env_file(path: str, _mtime_ns: int, _size: int) -> dict[str, str]:
    try:
        values = dotenv_values(path, interpolate=False, encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return {}
    return {key: value for key, value in values.items() if value is not None}


def environment_subset(variables: Iterable[str]) -> dict[str, str]:
    """Only the named variables that are set: for a command that must ignore the rest."""
    wanted = set(variables)
    return {name: value for name, value in os.environ.items() if name in wanted}


def configured_urls(prefix: str = "ALIASDESK_", env_file: str = ".env") -> list[str]:
    """Every ``*_URL`` setting from the environment and ``.env``, valid or not: an error
    message may quote any of them, so the command masks all their passwords."""
    values = {**dotenv_values(env_file, interpolate=False), **os.environ}
    return [str(v) for k, v in values.items() if k.startswith(prefix) and k.endswith("_URL")]
