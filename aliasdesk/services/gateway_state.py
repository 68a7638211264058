"""What the running gateway reports about itself for ``aliasdesk status``.

The status command runs in another process and cannot ask the gateway: which version of
the routing file it has in force (a refused edit leaves the old one running, and nothing
breaks to show it) and whether the mailbox still accepts its login. The gateway writes
one small row per fact; a row whose ``problem`` is set is something for an admin.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from aliasdesk.db.models import GatewayState
from aliasdesk.db.session import Database

log = logging.getLogger("aliasdesk.gateway_state")

ROUTING = "routing"
MAILBOX = "mailbox"


@dataclass(frozen=True)
class StateFact:
    name: str
    value: str
    problem: str | None
    updated_at: datetime


def record(db: Database, name: str, value: str, problem: str | None = None) -> None:
    """Write one fact; never raises, since a status row is not worth stopping the gateway
    for (the database may be down right now, which status finds out by itself)."""
    try:
        with db.unit_of_work() as session:
            row = session.get(GatewayState, name)
            if row is None:
                row = GatewayState(name=name)
                session.add(row)
            row.value, row.problem, row.updated_at = value, problem, datetime.now(UTC)
    except Exception as error:
        log.warning("event=state_not_recorded name=%s error=%r", name, str(error)[:200])


def read_all(db: Database) -> dict[str, StateFact]:
    with db.reader() as session:
        rows = session.scalars(select(GatewayState)).all()
        return {r.name: StateFact(r.name, r.value, r.problem, r.updated_at) for r in rows}


def routing_value(path: Path, digest: str) -> str:
    """How the routing fact is written: the digest, then the path it was read from."""
    return f"{digest} {path}"


def parse_routing_value(value: str) -> tuple[str, str]:
    digest, _, path = value.partition(" ")
    return digest, path
