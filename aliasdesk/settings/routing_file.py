"""Load and validate the routing file (CONTRACT §3) into a :class:`RoutingConfig`.

An admin edits this file by hand and the gateway re-reads it live, so a mistake must be
reported precisely and completely: every problem found, each as ``FILE:LINE: field: message``,
with the field written as a path (``departments.HR.assignment``, ``rules[0].when.subject``).
Nothing here raises anything but :class:`RoutingFileError`, whatever the file contains.

ruamel.yaml's round-trip loader keeps the line of every key and list item, which is what
makes the line numbers possible. Duplicate keys are found on the composed node tree first
(ruamel would otherwise stop at the first one), then the schema is checked on the data.
File-level problems use the fields ``file`` (missing, unreadable, empty) and ``yaml``
(syntax); a missing file is reported at line 0.
"""

from __future__ import annotations

import re
import stat
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, Node, SequenceNode

from aliasdesk.domain.organisation import (
    RoutingConfig,
)
from aliasdesk.settings.errors import ConfigError, RoutingFileError
from aliasdesk.settings.routing_schema import Located, SchemaBuilder, join_field


def load_routing(path: str | Path) -> RoutingConfig:
    """The validated routing file; raises :class:`RoutingFileError` listing every problem."""
    config, errors = _load(Path(path))
    if config is None or errors:
        raise RoutingFileError(errors)
    return config


def check_routing(path: str | Path) -> list[ConfigError]:
    """Every problem in the routing file, in line order; empty when it is usable."""
    return _load(Path(path))[1]


def _load(path: Path) -> tuple[RoutingConfig | None, list[ConfigError]]:
    source = str(path)
    text, problem = _read(path)
    if problem is not None:
        return None, [problem]
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = True
    try:
        node = yaml.compose(text)
        data = yaml.load(text) if node is not None else None
    except MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark is not None else 1
        what = error.problem or error.context or "cannot be parsed"
        return None, [ConfigError(source, line, "yaml", f"invalid YAML: {what}")]
    except (YAMLError, ValueError, TypeError, RecursionError) as error:
        return None, [ConfigError(source, 1, "yaml", f"invalid YAML: {error}")]
    if node is None:
        return None, [ConfigError(source, 1, "file", "the file is empty")]
    builder = SchemaBuilder(source)
    builder.errors.extend(_duplicate_keys(node, "", source))
    config = builder.build(Located(data, 1, ""))
    if config is None and not builder.errors:  # cannot happen; never fail without a reason
        builder.error(Located(None, 1, ""), "cannot be used (no details available)")
    errors = sorted(builder.errors, key=_reading_order)
    return (None if errors else config), errors


def _reading_order(error: ConfigError) -> tuple[int, list[Any]]:
    """By line, then by field with list indexes as numbers (aliases[2] before aliases[10])."""
    parts = re.split(r"(\d+)", error.field)
    return error.line, [int(part) if part.isdigit() else part for part in parts]


MAX_ROUTING_BYTES = 4 * 1024 * 1024
"""A routing file past this is refused: the largest organisation's fits in a few hundred KB,
and a mistyped path (/dev/zero, a log) must not be read for ever."""


def _read(path: Path) -> tuple[str, ConfigError | None]:
    source = str(path)
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode) and not stat.S_ISDIR(info.st_mode):
            # A fifo would hang the reader, a device never end.
            return "", ConfigError(source, 0, "file", "is not a regular file")
        if info.st_size > MAX_ROUTING_BYTES:
            limit = MAX_ROUTING_BYTES // (1024 * 1024)
            return "", ConfigError(source, 0, "file", f"is larger than {limit} MB")
        raw = path.read_bytes()
    except FileNotFoundError:
        return "", ConfigError(source, 0, "file", "no such file")
    except IsADirectoryError:
        return "", ConfigError(source, 0, "file", "is a directory, not a file")
    except OSError as error:
        return "", ConfigError(source, 0, "file", f"cannot be read: {error.strerror or error}")
    try:
        return raw.decode("utf-8-sig"), None
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        return "", ConfigError(source, line, "file", "is not UTF-8 text")


def _duplicate_keys(
    node: Node, field: str, source: str, seen: set[int] | None = None
) -> list[ConfigError]:
    """Every key that appears twice in one mapping, anywhere in the document.

    ``seen`` holds the nodes already walked: an anchor may be reused, even inside itself.
    """
    seen = set() if seen is None else seen
    errors: list[ConfigError] = []
    if id(node) in seen:
        return errors
    seen.add(id(node))
    if isinstance(node, MappingNode):
        first: dict[str, int] = {}
        for key_node, value_node in node.value:
            key, line = str(key_node.value), key_node.start_mark.line + 1
            if key in first:
                message = f"duplicate key (first at line {first[key]})"
                errors.append(ConfigError(source, line, join_field(field, key), message))
            first.setdefault(key, line)
            errors.extend(_duplicate_keys(value_node, join_field(field, key), source, seen))
    elif isinstance(node, SequenceNode):
        for index, item in enumerate(node.value):
            errors.extend(_duplicate_keys(item, f"{field}[{index}]", source, seen))
    return errors
