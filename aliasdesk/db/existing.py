"""Opening a database that must already be there.

Read commands (tickets, mail, quarantine, deliveries, status) answer questions about an
existing helpdesk. Pointed at a wrong URL they must say so, not make an empty database
(SQLite makes a file just by connecting) and then report "no tickets" as if all were well.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError

from aliasdesk.db import schema
from aliasdesk.db.session import Database
from aliasdesk.db.unavailable import DatabaseUnavailable
from aliasdesk.settings.env import mask_url


def sqlite_file(url: str) -> Path | None:
    """The file a SQLite URL names; None for other databases and in-memory SQLite."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return None
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def open_existing(url: str) -> Database:
    """The database at ``url`` with its schema brought to the current revision.

    Raises DatabaseUnavailable, naming the URL with its password masked, when there is no
    such database or it has no aliasdesk schema at all; nothing is created on the way.
    """
    shown = mask_url(url)
    path = sqlite_file(url)
    if path is not None and not path.is_file():
        raise DatabaseUnavailable(
            f"no database at {shown}: {path} does not exist "
            "(wrong ALIASDESK_DATABASE_URL, or run: aliasdesk db upgrade)"
        )
    db = Database(url)
    try:
        revision = schema.current_revision(db)
        if revision is None:
            raise DatabaseUnavailable(
                f"the database at {shown} has no aliasdesk schema "
                "(wrong ALIASDESK_DATABASE_URL, or run: aliasdesk db upgrade)"
            )
        schema.upgrade(db)
    except DBAPIError as error:  # unreachable, refused, or not a database at all
        db.dispose()
        raise DatabaseUnavailable(unreachable(url, error)) from error
    except DatabaseUnavailable:
        db.dispose()
        raise
    return db


def unreachable(url: str, error: DBAPIError) -> str:
    """One clear sentence for a database that cannot be used, with how to fix it where
    the fix is known (a PostgreSQL database that was never created)."""
    shown = mask_url(url)
    detail = str(error.orig or error).strip().splitlines()[0] if str(error) else "unknown"
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql" and "does not exist" in detail:
        name = parsed.database or "aliasdesk"
        where = f"-h {parsed.host or 'localhost'} -p {parsed.port or 5432}"
        user = f" -U {parsed.username}" if parsed.username else ""
        return (
            f"the database {name!r} does not exist at {shown}; create it first with "
            f'`createdb {where}{user} {name}` or in psql `CREATE DATABASE "{name}";`, '
            "then run aliasdesk db upgrade"
        )
    return f"cannot use the database at {shown}: {detail}"
