"""Odd inputs to the commands: a clear refusal, the right exit code, nothing touched that
is not aliasdesk's."""

from __future__ import annotations

import io
import os
import stat
import sys
from pathlib import Path

import pytest

from aliasdesk.cli.main import main
from aliasdesk.cli.output import printable
from tests.e2e.test_cli import cli
from tests.support.harness import ROUTING


def test_a_fifo_or_a_device_as_routing_file_is_refused_not_read(tmp_path: Path) -> None:
    fifo = tmp_path / "routing.fifo"
    os.mkfifo(fifo)
    for path in (str(fifo), "/dev/zero"):
        result = cli("rules", "check", path)
        assert result.returncode == 2, result.stderr
        assert f"{path}:0: file: is not a regular file" in result.stderr


def test_a_read_command_leaves_a_file_that_is_no_database_as_it_was(tmp_path: Path) -> None:
    """A mistyped ALIASDESK_DATABASE_URL naming a file of someone else's (or a folder)
    must not have its permissions changed."""
    other = tmp_path / "notes.txt"
    other.write_text("not a database\n")
    other.chmod(0o644)
    folder = tmp_path / "folder"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    for target in (other, folder):
        env = {
            "ALIASDESK_DATABASE_URL": f"sqlite:///{target}",
            "ALIASDESK_ROUTING_FILE": str(ROUTING),
        }
        result = cli("tickets", "list", env=env)
        assert result.returncode != 0 and "Traceback" not in result.stderr
    assert stat.S_IMODE(other.stat().st_mode) == 0o644
    assert stat.S_IMODE(folder.stat().st_mode) == 0o755


def test_limits_and_ids_out_of_range_are_usage_errors() -> None:
    for args in (
        ("mail", "list", "--limit", "-1"),
        ("mail", "list", "--limit", "0"),
        ("mail", "list", "--limit", "99999999999999999999"),
        ("quarantine", "retry", "99999999999999999999"),
        ("deliveries", "dismiss", "0"),
    ):
        result = cli(*args)
        assert result.returncode == 2, (args, result.stderr)
        assert "invalid" in result.stderr


def test_a_reader_that_goes_away_ends_the_command_quietly(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``aliasdesk tickets list | head -1``: the closed pipe is no error to report."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before anything is written
    closed = io.TextIOWrapper(os.fdopen(write_end, "wb"), encoding="utf-8")
    monkeypatch.setattr(sys, "stdout", closed)
    mask = os.umask(0o022)  # the only way to read the umask is to set one
    os.umask(mask)
    try:
        assert main(["rules", "check", str(ROUTING)]) == 0
    finally:
        # main() makes this process's files private (umask 077); the tests' stay as they
        # were: a private Dovecot started later could not read its own configuration.
        os.umask(mask)
    closed.flush()  # what is left goes nowhere: no BrokenPipeError at exit either
    closed.close()
    assert "BrokenPipe" not in capsys.readouterr().err


def test_text_from_mail_cannot_turn_around_on_the_admins_screen() -> None:
    """A subject "invoice<RLO>txt.exe" would read "invoiceexe.txt" in a terminal."""
    assert printable("invoice\u202etxt.exe\u2066x\u2069") == "invoicetxt.exex"
