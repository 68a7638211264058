"""The routing version in force, shared by ``run``'s processes through a kept copy: a job
process started while the file is broken runs with the rules the run process has in force
(instead of refusing to start), and leaves reporting the refusal to that process."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from aliasdesk.services.routing_holder import RoutingHolder, content_digest
from aliasdesk.settings.errors import RoutingFileError
from tests.support.harness import ROUTING

BROKEN = "organisation: [\n"


def replace(path: Path, text: str) -> None:
    """A new version with a modification time the holder cannot mistake for the old one."""
    before = path.stat().st_mtime_ns if path.exists() else 0
    path.write_text(text)
    os.utime(path, ns=(before + 1_000_000_000, before + 1_000_000_000))


def with_it_renamed(text: str) -> str:
    return text.replace("name: IT Support", "name: IT Help", 1)


def test_the_copy_follows_the_valid_versions_only(tmp_path: Path) -> None:
    path, kept = tmp_path / "routing.yaml", tmp_path / "kept.yaml"
    replace(path, ROUTING.read_text())
    holder = RoutingHolder(path, check_every=0, keep=kept)
    assert kept.read_bytes() == path.read_bytes()

    replace(path, with_it_renamed(ROUTING.read_text()))
    assert holder.current().departments["IT"].name == "IT Help"
    assert kept.read_text() == with_it_renamed(ROUTING.read_text())

    replace(path, BROKEN)
    assert holder.current().departments["IT"].name == "IT Help"
    assert holder.refusal is not None
    assert kept.read_text() == with_it_renamed(ROUTING.read_text())  # the last valid one


def test_a_process_starting_on_a_broken_file_takes_the_copy(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path, kept = tmp_path / "routing.yaml", tmp_path / "kept.yaml"
    replace(path, ROUTING.read_text())
    RoutingHolder(path, keep=kept)
    replace(path, BROKEN)
    with pytest.raises(RoutingFileError):
        RoutingHolder(path)  # on its own: refuses to start, as ever

    caplog.set_level(logging.DEBUG, logger="aliasdesk.routing")
    holder = RoutingHolder(path, check_every=0, fallback=kept, report_refusals=False)
    assert holder.digest == content_digest(kept)
    assert "IT" in holder.current().departments

    replace(path, BROKEN + "# still broken\n")
    holder.current()
    refusals = [r for r in caplog.records if "routing_refused" in r.getMessage()]
    assert refusals and all(r.levelno == logging.DEBUG for r in refusals)

    replace(path, with_it_renamed(ROUTING.read_text()))  # fixed: taken as in any process
    assert holder.current().departments["IT"].name == "IT Help"
