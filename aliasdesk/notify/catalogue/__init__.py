"""The notification kinds aliasdesk sends, found by looking at this package.

Each module here declares one kind (or a family of closely related kinds) as
``NotificationKind`` objects; nothing else lists them. The registry imports every module
of the package once, on first use, and collects the kinds it finds, so adding a kind is
adding a module and its templates (``templates/email/<name>/``).
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
from types import ModuleType

from aliasdesk.notify.catalogue.kind import NotificationKind


class UnknownKind(ValueError):
    """A delivery names a kind no module declares (a row written by another version)."""

    def __init__(self, name: str) -> None:
        super().__init__(f"unknown notification kind {name!r}")
        self.name = name


def all_kinds() -> tuple[NotificationKind, ...]:
    """Every registered kind, by name."""
    return tuple(_registry().values())


def kind_names() -> tuple[str, ...]:
    return tuple(_registry())


def kind_named(name: str) -> NotificationKind:
    """The kind called ``name``; ``UnknownKind`` (a ValueError) when there is none."""
    found = _registry().get(name)
    if found is None:
        raise UnknownKind(name)
    return found


def find_kind(name: str) -> NotificationKind | None:
    return _registry().get(name)


@functools.cache
def _registry() -> dict[str, NotificationKind]:
    """Built whole before anyone sees it, so a thread never finds it half filled."""
    found: dict[str, NotificationKind] = {}
    for module in _modules():
        for value in vars(module).values():
            if isinstance(value, NotificationKind):
                _add(found, value)
    return dict(sorted(found.items()))


def _add(found: dict[str, NotificationKind], kind: NotificationKind) -> None:
    """Two different kinds of one name would make the mail sent depend on import order."""
    known = found.setdefault(kind.name, kind)
    if known is not kind:
        raise RuntimeError(f"notification kind {kind.name!r} is declared twice")


def _modules() -> list[ModuleType]:
    return [
        importlib.import_module(f"{__name__}.{info.name}")
        for info in pkgutil.iter_modules(__path__)
        if not info.ispkg
    ]
