"""The entry-point layer: the ``aliasdesk`` command and its sub-commands.

This package is the only place that wires gateway, worker and settings together; every
other layer is imported from here and never imports it back (see the import contracts in
pyproject.toml). ``aliasdesk.cli:main`` is the installed script.
"""

from __future__ import annotations

from aliasdesk.cli.main import main

__all__ = ["main"]
