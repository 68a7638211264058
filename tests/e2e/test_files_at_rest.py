"""Files at rest and passwords in errors, seen from outside: real ``aliasdesk`` commands
run as subprocesses under the common umask 022, then the modes they left are checked."""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

from aliasdesk.settings.url_secrets import MASK
from tests.e2e.test_cli import ALIASDESK, ROOT
from tests.support.backends import drop_postgres_database, make_postgres_database

UMASK_022 = 'umask 022 && exec "$0" "$@"'


def under_umask_022(
    *command: str, env: dict[str, str], cwd: Path = ROOT
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("ALIASDESK_")}
    return subprocess.run(
        ["sh", "-c", UMASK_022, *command],
        cwd=cwd,
        env={**full_env, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_database_is_private_whatever_the_umask(tmp_path: Path) -> None:
    database = tmp_path / "aliasdesk.db"
    result = under_umask_022(
        ALIASDESK, "db", "upgrade", env={"ALIASDESK_DATABASE_URL": f"sqlite:///{database}"}
    )
    assert result.returncode == 0, result.stderr
    assert mode(database) == 0o600
    assert "permissions_tightened" not in result.stderr  # made private, not fixed afterwards


def test_sqlite_journal_files_are_private_without_the_command_too(tmp_path: Path) -> None:
    """A process embedding aliasdesk (no CLI, so no private umask): the database file is
    made 0600 before SQLite opens it, and SQLite gives its WAL and shared-memory files
    the database file's mode. Checked while the writing connection is still open."""
    script = (
        "import sys, stat, os\n"
        "from aliasdesk.db.session import Database\n"
        "from sqlalchemy import text\n"
        "db = Database(sys.argv[1])\n"
        "with db.unit_of_work() as s:\n"
        "    s.execute(text('create table t (x text)'))\n"
        "    s.execute(text(\"insert into t values ('salary letter')\"))\n"
        "conn = db.engine.connect()\n"
        "conn.exec_driver_sql('select * from t').all()\n"
        "base = sys.argv[1].removeprefix('sqlite:///')\n"
        "for suffix in ('', '-wal', '-shm'):\n"
        "    print(suffix or 'db', oct(stat.S_IMODE(os.stat(base + suffix).st_mode)))\n"
    )
    url = f"sqlite:///{tmp_path / 'mail.db'}"
    result = under_umask_022(sys.executable, "-c", script, url, env={})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["db", "0o600", "-wal", "0o600", "-shm", "0o600"]


def test_an_existing_world_readable_database_is_tightened_and_logged(tmp_path: Path) -> None:
    database = tmp_path / "aliasdesk.db"
    env = {"ALIASDESK_DATABASE_URL": f"sqlite:///{database}"}
    assert under_umask_022(ALIASDESK, "db", "upgrade", env=env).returncode == 0
    database.chmod(0o644)
    leftover = tmp_path / "aliasdesk.db-journal"
    leftover.write_bytes(b"")
    leftover.chmod(0o666)
    result = under_umask_022(ALIASDESK, "db", "upgrade", env=env)
    assert result.returncode == 0, result.stderr
    assert mode(database) == 0o600
    assert not leftover.exists() or mode(leftover) == 0o600
    assert re.search(
        rf"event=permissions_tightened path={re.escape(str(database))} was=644", result.stderr
    )


def test_the_demo_keeps_its_folder_and_database_private(tmp_path: Path) -> None:
    process = subprocess.Popen(
        ["sh", "-c", UMASK_022, ALIASDESK, "demo", "--serve"],
        cwd=ROOT,
        env={**{k: v for k, v in os.environ.items() if not k.startswith("ALIASDESK_")},
             "TMPDIR": str(tmp_path)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        lines: list[str] = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not any(x.startswith("Serving.") for x in lines):
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line.strip())
        assert any(x.startswith("Serving.") for x in lines), "\n".join(lines)
        [folder] = [path for path in tmp_path.iterdir() if path.name.startswith("aliasdesk-demo")]
        assert mode(folder) == 0o700
        files = {path.name: mode(path) for path in folder.iterdir()}
        assert files["demo.db"] == 0o600 and files, files
        assert set(files.values()) == {0o600}, files
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


SECRET_PIECES = ("Tr0ub4dor", "Xq9z", "Kv:w3", "Tr0ub4dor@Xq9z/Kv:w3")


def test_a_database_url_drivers_would_misread_is_refused_without_its_password() -> None:
    """Read naively, the host would be "Xq9z", a piece of the password, and the driver's
    "failed to resolve host" error would print it."""
    url = "postgresql+psycopg://desk:Tr0ub4dor@Xq9z/Kv:w3@127.0.0.1:5432/aliasdesk"
    result = under_umask_022(ALIASDESK, "status", env={"ALIASDESK_DATABASE_URL": url})
    assert result.returncode == 2, result.stderr
    assert "ALIASDESK_DATABASE_URL" in result.stderr and "%40" in result.stderr
    output = result.stdout + result.stderr
    assert not [piece for piece in SECRET_PIECES if piece in output], output


def test_a_failing_connection_does_not_show_the_password() -> None:
    url = "postgresql+psycopg://desk:Tr0ub4dor%40Xq9z%2FKv%3Aw3@127.0.0.1:1/aliasdesk"
    for command in (("status",), ("db", "upgrade"), ("tickets", "list")):
        result = under_umask_022(ALIASDESK, *command, env={"ALIASDESK_DATABASE_URL": url})
        assert result.returncode == 1, (command, result.stderr)
        output = result.stdout + result.stderr
        assert "127.0.0.1" in output or "refused" in output, output
        assert "Tr0ub4dor" not in output and "Xq9z" not in output, output


def test_status_shows_the_database_url_with_its_password_masked() -> None:
    name, url = make_postgres_database()  # trust authentication: any password is accepted
    try:
        with_password = url.replace("postgres@", "postgres:Tr0ub4dor%40Xq9z%2FKv%3Aw3@", 1)
        env = {"ALIASDESK_DATABASE_URL": with_password}
        result = under_umask_022(ALIASDESK, "status", "--json", env=env)
        output = result.stdout + result.stderr
        assert json.loads(result.stdout)["database"]["url"] == with_password.replace(
            "Tr0ub4dor%40Xq9z%2FKv%3Aw3", MASK
        )
        assert "Tr0ub4dor" not in output and "Xq9z" not in output, output
    finally:
        drop_postgres_database(name)
