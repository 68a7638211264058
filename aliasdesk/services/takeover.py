"""Taking over the claims of processes known to be dead, without waiting for their leases.

A process killed mid-work (kill -9, an OOM kill, a power cut) leaves deliveries in
``sending`` and jobs in ``published`` under its name. Once :mod:`aliasdesk.services.holders`
says that holder is dead, its deliveries go back to ``pending`` (their stored bytes and
Message-ID unchanged, so a resend is the very same mail) and their jobs, like the jobs it
had published, are due again at once. A live holder's claims are never touched; the leases
(``ALIASDESK_CLAIM_LEASE_SECONDS``, ``ALIASDESK_PUBLISH_LEASE_SECONDS``) stay as the last
resort for a holder nobody can judge.

``run``, ``gateway`` and ``worker`` each run a :class:`Watch`: a heartbeat for the process
and a takeover pass, once at start (so ``run --once`` after a crash finishes what the dead
run held) and then every heartbeat interval. Shorter-lived processes that claim (an import
draining its jobs) write no heartbeat; on their own host they are judged by the process
table all the same.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, CompoundSelect, select, union, update
from sqlalchemy.orm import Session

from aliasdesk.db.models import Delivery, Holder, Job
from aliasdesk.db.session import Database
from aliasdesk.services.holders import beat, dead_holders, forget, heartbeat_interval

log = logging.getLogger("aliasdesk.takeover")


@dataclass(frozen=True)
class Takeover:
    """What one pass took from dead holders."""

    holders: frozenset[str] = frozenset()
    deliveries: int = 0
    jobs: int = 0


def claim_holders(db: Database) -> set[str]:
    """Every process named by an open claim or a heartbeat row."""
    statement: CompoundSelect[tuple[str | None]] = union(
        select(Delivery.holder).where(Delivery.state == "sending", Delivery.holder.is_not(None)),
        select(Job.holder).where(Job.state == "published", Job.holder.is_not(None)),
        select(Holder.name),
    )
    with db.reader() as session:
        return {str(name) for name in session.execute(statement).scalars() if name}


def take_over_dead(db: Database, now: datetime | None = None) -> Takeover:
    """Release what dead holders held; one read when nobody died, one transaction if so."""
    now = now or datetime.now(UTC)
    dead = dead_holders(db, claim_holders(db), now)
    if not dead:
        return Takeover()
    with db.unit_of_work() as session:
        released = list(
            session.scalars(
                update(Delivery)
                .where(Delivery.state == "sending", Delivery.holder.in_(dead))
                .values(state="pending", claimed_by=None, claimed_at=None, holder=None)
                .returning(Delivery.id)
                .execution_options(synchronize_session=False)
            )
        )
        jobs = _make_due(session, now, Job.state == "published", Job.holder.in_(dead))
        if released:  # their jobs wait on the claim (rescheduled by the lease): due now
            jobs += _make_due(session, now, Job.delivery_id.in_(released), Job.state != "done")
    forget(db, dead)
    taken = Takeover(frozenset(dead), len(released), jobs)
    log.warning(
        "event=takeover holders=%s deliveries=%d jobs=%d",
        ",".join(sorted(dead)),
        taken.deliveries,
        taken.jobs,
    )
    return taken


def _make_due(session: Session, now: datetime, *where: ColumnElement[bool]) -> int:
    """Jobs matching ``where`` back to pending, due now, held by nobody."""
    result = session.execute(
        update(Job)
        .where(*where)
        .values(state="pending", published_at=None, holder=None, available_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


class Watch:
    """This process's heartbeat and takeover pass, on a daemon thread.

    A failed pass (the database is down) is logged and tried again next interval: the
    heartbeat must not stop the process it speaks for.
    """

    def __init__(self, db: Database, interval: float | None = None) -> None:
        self.db = db
        self.interval = interval or heartbeat_interval()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="heartbeat", daemon=True)

    def tick(self) -> Takeover:
        try:
            beat(self.db)
            return take_over_dead(self.db)
        except Exception:
            log.exception("event=heartbeat_failed")
            return Takeover()

    def start(self) -> None:
        self.tick()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self.interval + 5)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.tick()


@contextmanager
def watching(db: Database) -> Iterator[Watch]:
    """Heartbeat and takeover for as long as the block runs (a first pass before it)."""
    watch = Watch(db)
    watch.start()
    try:
        yield watch
    finally:
        watch.stop()
