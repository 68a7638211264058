"""Who holds a claim, and whether that process is still alive.

Every claim (a delivery being sent, a job published to the workers) names its holder:
``host:pid:start``, the host (its name and a digest of its boot and pid namespace, see
:func:`host_name`), the process id and the process's start time. The start time guards
against pid reuse: a new process that got a dead one's pid started later.

A holder on this host is judged by the process table, at once and for certain: no process
with that pid and start time means it is dead. A holder on another host is judged by its
heartbeat row in ``holders``, which every claiming process refreshes every
``ALIASDESK_HEARTBEAT_SECONDS`` (default 2): older than :data:`STALE_BEATS` intervals means
dead. A remote holder with no row at all is not judged: the claim's lease decides, as
before, so a process that never wrote a heartbeat is never robbed of a live claim.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psutil
from sqlalchemy import delete, select, update

from aliasdesk.db.models import Holder
from aliasdesk.db.session import Database
from aliasdesk.settings.environment import environment_value

log = logging.getLogger("aliasdesk.holders")
HEARTBEAT_VARIABLE = "ALIASDESK_HEARTBEAT_SECONDS"
DEFAULT_HEARTBEAT = 2.0
STALE_BEATS = 5
"""A remote holder is dead when its heartbeat is this many intervals old."""
START_TOLERANCE = 0.05
"""Seconds two readings of one process's start time may differ by (clock ticks, rounding)."""
HOST_LENGTH = 48


@dataclass(frozen=True)
class HolderId:
    """One process, named so that another process can tell whether it still runs."""

    host: str
    pid: int
    started: float

    @property
    def name(self) -> str:
        return f"{self.host}:{self.pid}:{self.started:.2f}"

    @classmethod
    def parse(cls, name: str) -> HolderId | None:
        """The holder a claim names; None for a name not written by this module."""
        host, _, rest = name.rpartition(":")
        host, _, pid = host.rpartition(":")
        try:
            return cls(host, int(pid), float(rest)) if host else None
        except ValueError:
            return None


def host_name() -> str:
    """Where this process's pid means something: the host name and a digest of the name,
    the kernel's boot and this pid namespace.

    Two containers, or two machines, given the same host name must never be taken for one
    host: each would look the other's pids up in its own process table and find them dead.
    The name is cut to fit the claim columns; the digest keeps long names apart.
    """
    host = socket.gethostname() or "localhost"
    place = "|".join([host, _read("/proc/sys/kernel/random/boot_id"), _pid_namespace()])
    digest = hashlib.sha256(place.encode()).hexdigest()[:10]
    return f"{host[:HOST_LENGTH]}/{digest}"


def _read(path: str) -> str:
    try:
        with open(path, encoding="ascii") as handle:
            return handle.read().strip()
    except OSError:
        return ""


def _pid_namespace() -> str:
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""


_this: dict[int, HolderId] = {}


def this_holder() -> HolderId:
    """This process (looked up again after a fork: the child has another pid)."""
    pid = os.getpid()
    if pid not in _this:
        _this[pid] = HolderId(host_name(), pid, psutil.Process(pid).create_time())
    return _this[pid]


def heartbeat_interval() -> float:
    text = environment_value(HEARTBEAT_VARIABLE).strip()
    try:
        value = float(text) if text else DEFAULT_HEARTBEAT
    except ValueError:
        value = -1.0
    if value <= 0:
        log.error("event=bad_setting variable=%s value=%r", HEARTBEAT_VARIABLE, text)
        return DEFAULT_HEARTBEAT
    return value


def stale_after() -> timedelta:
    return timedelta(seconds=heartbeat_interval() * STALE_BEATS)


def runs_here(holder: HolderId) -> bool:
    """Whether the process is alive on this host (pid and start time both match)."""
    try:
        process = psutil.Process(holder.pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        started: float = process.create_time()
        return abs(started - holder.started) < START_TOLERANCE
    except psutil.NoSuchProcess:
        return False
    except psutil.Error:  # no right to look (another user's process): assume it lives
        return True


def dead_holders(db: Database, names: Iterable[str], now: datetime) -> set[str]:
    """Which of these claim holders are known to be dead (the others may be alive)."""
    me, here = this_holder(), host_name()
    dead: set[str] = set()
    remote: dict[str, HolderId] = {}
    for name in set(names):
        holder = HolderId.parse(name)
        if holder is None or name == me.name:
            continue
        if holder.host == here:
            if not runs_here(holder):
                dead.add(name)
        else:
            remote[name] = holder
    if remote:
        dead |= _stale(db, remote, now)
    return dead


def _stale(db: Database, remote: dict[str, HolderId], now: datetime) -> set[str]:
    """Remote holders whose heartbeat row is too old (no row: not judged)."""
    with db.reader() as session:
        rows = session.execute(
            select(Holder.name, Holder.beat_at).where(Holder.name.in_(list(remote)))
        ).all()
    beats = {row.name: row.beat_at for row in rows}
    limit = now - stale_after()
    return {name for name, beat_at in beats.items() if beat_at < limit}


def beat(db: Database, now: datetime | None = None) -> None:
    """Say this process is alive: refresh its row, or write it (first beat, or after another
    process took it for dead and removed it)."""
    me, now = this_holder(), now or datetime.now(UTC)
    with db.unit_of_work() as session:
        updated = session.execute(update(Holder).where(Holder.name == me.name).values(beat_at=now))
        if updated.rowcount == 0:  # type: ignore[attr-defined]
            session.add(
                Holder(name=me.name, host=me.host, pid=me.pid, started=me.started, beat_at=now)
            )


def forget(db: Database, names: Iterable[str]) -> None:
    """Remove the heartbeat rows of holders taken for dead, or of this process at exit."""
    wanted = list(names)
    if wanted:
        with db.unit_of_work() as session:
            session.execute(delete(Holder).where(Holder.name.in_(wanted)))
