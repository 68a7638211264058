"""Configuration errors that point at the exact place to fix.

Admins fix configuration from error messages alone, so every error names where it was
found (a file or the environment), the line, the field and what is wrong, in the
``FILE:LINE: field.path: message`` form that editors and CI logs make clickable.
All problems are collected and raised together so one run shows every mistake.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class ConfigError:
    """One problem in a configuration source.

    ``path`` is the file (or ``"environment"`` for variables of the process
    environment), ``line`` is 1-based, or 0 when there is no line to point at
    (a missing file, a variable set in the environment).
    """

    path: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.field}: {self.message}"


class ConfigurationError(Exception):
    """Root of every error raised by :mod:`aliasdesk.settings`; carries all problems found."""

    def __init__(self, errors: list[ConfigError]) -> None:
        self.errors = list(errors)
        super().__init__("\n".join(self.describe()))

    def describe(self) -> list[str]:
        """One line per problem, ready to print."""
        return [str(error) for error in self.errors]


class RoutingFileError(ConfigurationError):
    """The routing file cannot be used; ``errors`` lists every problem in it."""


class SettingsError(ConfigurationError):
    """An environment variable (or a line of ``.env``) has a value aliasdesk cannot use."""

    def describe(self) -> list[str]:
        # A variable from the real environment has no line to point at; "environment:0:"
        # would suggest a file, so those are printed without the line number.
        return [
            f"{error.path}: {error.field}: {error.message}" if error.line == 0 else str(error)
            for error in self.errors
        ]
