"""``run --processes N``: a count of one or more, checked before anything starts."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import aliasdesk
from aliasdesk.claim_sizes import CLAIM_BATCH, ClaimSize
from aliasdesk.cli import main
from aliasdesk.cli.processes import (
    JobProcesses,
    default_processes,
    job_process_command,
    wait_for_schema,
)
from tests.support.fresh_process import printed_by_fresh_process


@pytest.mark.parametrize("value", ["0", "-1", "two"])
def test_a_count_below_one_or_not_a_number_is_bad_usage(
    value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["run", "--processes", value])
    assert stopped.value.code == 2
    assert "--processes" in capsys.readouterr().err


def test_the_default_is_the_machine_s_cores() -> None:
    assert default_processes() == (os.cpu_count() or 1)


def _worker_told(batch: int, sharers: int) -> list[str]:
    """The worker command's arguments a job process of this process is given."""
    parent = str(os.getpid())
    return ["worker", "--parent", parent, "--batch", str(batch), "--sharers", str(sharers)]


def test_a_job_process_is_a_worker_told_who_started_it() -> None:
    command = job_process_command(ClaimSize(20, sharers=3))
    assert command[:2] == [sys.executable, "-P"]
    assert command[-7:] == _worker_told(20, 3)


def test_a_job_process_is_told_the_folder_it_shares(tmp_path: Path) -> None:
    command = job_process_command(ClaimSize(20, sharers=2), tmp_path)
    assert command[-9:] == [*_worker_told(20, 2), "--shared", str(tmp_path)]


def test_a_job_process_runs_this_code_whatever_folder_it_starts_in(tmp_path: Path) -> None:
    """An ``aliasdesk`` package in the working folder (another version, or one planted in
    a folder anybody can write to) is not what a job process imports."""
    impostor = tmp_path / "aliasdesk" / "cli"
    impostor.mkdir(parents=True)
    (tmp_path / "aliasdesk" / "__init__.py").write_text("")
    (impostor / "__init__.py").write_text("import sys\nprint('impostor')\nsys.exit(3)\n")
    entry = job_process_command(ClaimSize())[:5]  # the interpreter, -P, -c, entry, code
    ran = subprocess.run(
        [*entry, "--version"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "impostor" not in ran.stdout
    assert ran.stdout.startswith("aliasdesk ")


def test_a_job_process_of_a_checkout_run_uninstalled_finds_that_checkout(tmp_path: Path) -> None:
    """Where this aliasdesk is not on the module path a child would get (run from its
    checkout without installing), the entry adds the folder it was imported from."""
    code = str(Path(aliasdesk.__file__).resolve().parents[1])
    entry = job_process_command(ClaimSize())[:4]
    shown = "import aliasdesk, sys; print(aliasdesk.__file__); sys.exit(0)"
    probe = entry[3].replace("from aliasdesk.cli import main\nsys.exit(main(sys.argv[1:]))", shown)
    assert probe != entry[3]
    clean = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    ran = subprocess.run(
        [sys.executable, "-P", "-S", "-c", probe, code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=clean,
        timeout=60,
    )
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == str(Path(aliasdesk.__file__))


def test_job_processes_share_with_the_run_process() -> None:
    """Three job processes and the run process: four take shares of what is due."""
    helpers = JobProcesses(3)
    try:
        assert helpers.claims == ClaimSize(CLAIM_BATCH, sharers=4)
    finally:
        helpers.stop()


def test_a_job_process_waiting_for_the_schema_creates_no_database_file(tmp_path: Path) -> None:
    """A run process that stops at a configuration error before it made its SQLite file
    leaves none behind: its job process, started beside it, only waits for the file."""
    database = tmp_path / "aliasdesk.db"
    stop = threading.Event()
    threading.Timer(0.3, stop.set).start()
    assert wait_for_schema(f"sqlite:///{database}", stop) is False
    assert not database.exists()
    assert list(tmp_path.iterdir()) == []


def test_run_reaches_its_job_processes_start_without_importing_the_rest() -> None:
    """What ``aliasdesk run`` imports before it spawns its job processes: the entry point,
    the run command and the process keeper. SQLAlchemy and the relay (most of aliasdesk,
    about a second of CPU) must not be among them, or the job processes start that much
    later and the first mail finds them still starting."""
    probe = (
        "import sys\n"
        "import aliasdesk.cli.main, aliasdesk.cli.run_command, aliasdesk.cli.processes\n"
        "import aliasdesk.db.unavailable\n"
        "heavy = [m for m in ('sqlalchemy', 'aliasdesk.relay', 'aliasdesk.runtime', 'jinja2')"
        " if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    assert printed_by_fresh_process(probe) == ""


def test_a_worker_loads_neither_the_mailbox_poller_nor_the_intake() -> None:
    """What ``aliasdesk worker`` (and so a job process of ``run``) imports to run jobs:
    not the IMAP side, which only ``run`` and ``gateway`` use (about 70 modules and 2 MB
    a worker would hold for nothing)."""
    probe = (
        "import sys\n"
        "import aliasdesk.cli.main, aliasdesk.cli.commands, worker.process, worker.dispatch\n"
        "from aliasdesk.services.languages import warm_up\n"
        "side = ('imapclient', 'gateway.poller', 'aliasdesk.services.intake')\n"
        "print(','.join(m for m in side if m in sys.modules))\n"
    )
    assert printed_by_fresh_process(probe) == ""
