"""The process environment, read here and nowhere else in the application.

Most settings are loaded once into :class:`aliasdesk.settings.env.Settings`. A few tuning
knobs (heartbeat, publish lease, delivery back-off, worker threads) are read at the moment
they are used, so a test or an operator can change them between runs of one process; they
come through these functions so that nothing outside ``aliasdesk.settings`` touches
``os.environ`` and every variable the product reads can be found in one package.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from dotenv import dotenv_values


def environment_value(variable: str, default: str = "") -> str:
    """The variable's current value, or ``default`` when it is unset."""
    return os.environ.get(variable, default)


def environment_subset(variables: Iterable[str]) -> dict[str, str]:
    """Only the named variables that are set: for a command that must ignore the rest."""
    wanted = set(variables)
    return {name: value for name, value in os.environ.items() if name in wanted}


def configured_urls(prefix: str = "ALIASDESK_", env_file: str = ".env") -> list[str]:
    """Every ``*_URL`` setting from the environment and ``.env``, valid or not: an error
    message may quote any of them, so the command masks all their passwords."""
    values = {**dotenv_values(env_file, interpolate=False), **os.environ}
    return [str(v) for k, v in values.items() if k.startswith(prefix) and k.endswith("_URL")]
