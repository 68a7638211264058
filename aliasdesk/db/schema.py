"""Creating and migrating the schema: Alembic only, never ``create_all``.

Asking whether the schema is current happens in every process at start (a job process
of ``run`` waits on it, and every serving process upgrades): that question is answered
without Alembic, which is only imported when there is a migration to run. Alembic with
its templates is about 8 MB (never given back) and 0.1 s of CPU in a process that would
never use it again. The head is the newest migration file's revision
(they are numbered in order; a test compares it with Alembic's own answer), and the
current revision is the one row Alembic keeps in ``alembic_version``.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.exc import OperationalError, ProgrammingError

from aliasdesk.db.session import Database

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
_REVISION = re.compile(r'^revision: str = "([0-9a-z_]+)"$', re.MULTILINE)


def alembic_config(url: str) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(database: Database, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (creating it on an empty database). A schema
    already at the head is left as it is without loading Alembic: that is every start
    of a serving process but the first after an upgrade."""
    if revision == "head" and is_current(database):
        return
    from alembic import command

    config = alembic_config(database.url)
    with database.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def current_revision(database: Database) -> str | None:
    """The schema's revision; None on a database without an aliasdesk schema."""
    with database.engine.connect() as connection:
        try:
            row = connection.execute(text("SELECT version_num FROM alembic_version")).first()
        except (OperationalError, ProgrammingError):  # no such table: no schema yet
            return None
    return str(row[0]) if row is not None else None


@functools.cache
def head_revision() -> str:
    """The newest migration's revision: the last file of the numbered versions (read
    once: a job process asks several times a second while it waits for the schema)."""
    newest = max((MIGRATIONS / "versions").glob("[0-9][0-9][0-9][0-9]_*.py"))
    found = _REVISION.search(newest.read_text(encoding="utf-8"))
    if found is None:
        raise RuntimeError(f"{newest}: no revision line")
    return found.group(1)


def is_current(database: Database) -> bool:
    return current_revision(database) == head_revision()
