"""What the daily digest and the weekly report share: the relay's look for mail that is
due by the clock, several times a second, without asking the database each time.

A round finds what is due now (pure: the routing file and the time), leaves out what
this process already settled, and queues the rest in one unit of work. The database
keeps each mail single (its delivery key names the local day); the process remembers
which (who, day) pairs it settled and when the schedule next falls due, so between two
due moments a look is one comparison and the database is asked once a day. A round that
fails is tried again a minute later, not at every look: its cause (a database outage, a
bug) would only fill the log.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from typing import Generic, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from aliasdesk.db.session import Database
from aliasdesk.domain.organisation import Department, RoutingConfig
from aliasdesk.domain.schedules import DailySchedule
from aliasdesk.services.languages import department_timezone
from aliasdesk.services.next_run import NextRun

log = logging.getLogger("aliasdesk.scheduled_mail")
RETRY_AFTER = timedelta(minutes=1)
Due = TypeVar("Due")


def department_zone(department: Department) -> tzinfo:
    """The zone a department's day is counted in: the one its mail shows times in, as
    ``department_timezone`` decides for every kind."""
    return ZoneInfo(department_timezone(department))


@dataclass(frozen=True)
class DueDay:
    """A department whose scheduled run of ``day`` (local, in ``zone``) is due; ``moment``
    is when it fell due."""

    department: Department
    day: date
    zone: tzinfo
    moment: datetime


def due_departments(
    config: RoutingConfig, schedule: DailySchedule | None, now: datetime
) -> Iterator[DueDay]:
    """Each department whose run of ``schedule`` is due at ``now``; none when it is off."""
    if schedule is None:
        return
    for department in config.departments.values():
        zone = department_zone(department)
        day = schedule.due_day(now, zone)
        if day is not None:
            yield DueDay(department, day, zone, schedule.moment(day, zone))


@dataclass
class Rounds(ABC, Generic[Due]):
    """One kind of scheduled mail, the (who, local day) pairs this process settled and
    when its schedule next falls due."""

    settled: set[tuple[str, date]] = field(default_factory=set)
    next_run: NextRun = field(default_factory=NextRun)

    @abstractmethod
    def schedule(self, config: RoutingConfig) -> DailySchedule | None:
        """When this kind is sent, as the routing file says (None: off)."""

    @abstractmethod
    def due(self, config: RoutingConfig, now: datetime) -> list[Due]:
        """Everything of this kind due at ``now``, settled or not."""

    @abstractmethod
    def key(self, item: Due) -> tuple[str, date]:
        """Who an item is for (a member, a department) and its local day."""

    @abstractmethod
    def queue(
        self, session: Session, config: RoutingConfig, items: Sequence[Due], now: datetime
    ) -> int:
        """Queue the mails of ``items`` in the caller's transaction; returns how many."""

    def run(self, db: Database, config: RoutingConfig, now: datetime) -> int:
        """Queue what is due at ``now`` and not settled; returns mails queued."""
        if not self.next_run.due(config, now):
            return 0
        items = [item for item in self.due(config, now) if self.key(item) not in self.settled]
        queued = self._queue(db, config, items, now) if items else 0
        if queued is None:  # another relay queued the same mail first: look again at once
            self.next_run.after(config, now)
            return 0
        self._settle([self.key(item) for item in items])
        self.next_run.after(config, self.next_due(config, now))
        return queued

    def next_due(self, config: RoutingConfig, now: datetime) -> datetime | None:
        """The first moment after ``now`` at which any department's run falls due."""
        schedule = self.schedule(config)
        if schedule is None:
            return None
        zones = {department_zone(d) for d in config.departments.values()}
        moments = [schedule.next_moment(now, zone) for zone in zones]
        return min((moment for moment in moments if moment is not None), default=None)

    def _queue(
        self, db: Database, config: RoutingConfig, items: Sequence[Due], now: datetime
    ) -> int | None:
        name = type(self).__name__
        try:
            with db.unit_of_work() as session:
                queued = self.queue(session, config, items, now)
        except IntegrityError:  # theirs stands
            log.info("event=scheduled_mail_raced rounds=%s", name)
            return None
        except Exception:
            self.next_run.after(config, now + RETRY_AFTER)
            raise
        if queued:
            log.info("event=scheduled_mail_queued rounds=%s count=%d", name, queued)
        return queued

    def _settle(self, keys: list[tuple[str, date]]) -> None:
        """Remember ``keys``, forgetting pairs a week older than the oldest of them."""
        if not keys:
            return
        oldest = min(day for _, day in keys) - timedelta(days=7)
        self.settled = {pair for pair in self.settled if pair[1] >= oldest}
        self.settled.update(keys)
