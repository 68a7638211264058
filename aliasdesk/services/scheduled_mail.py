"""What the daily digest and the weekly report share: the relay's look for mail that is
due by the clock, several times a second, without asking the database each time.

A round finds what is due now (pure: the routing file and the time), leaves out what
this process already settled, and queues the rest in one unit of work. The database
keeps each mail single (its delivery key names the local day); the process only
remembers which (who, day) pairs it settled, so it asks the database once a day. A round
that fails is tried again a minute later, not at every look: its cause (a database
outage, a bug) would only fill the log.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Generic, TypeVar

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from aliasdesk.db.session import Database
from aliasdesk.domain.organisation import RoutingConfig

log = logging.getLogger("aliasdesk.scheduled_mail")
RETRY_AFTER = timedelta(minutes=1)
Due = TypeVar("Due")


@dataclass
class Rounds(ABC, Generic[Due]):
    """One kind of scheduled mail and the (who, local day) pairs this process settled."""

    settled: set[tuple[str, date]] = field(default_factory=set)
    failed_at: datetime | None = None

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
        if self.failed_at is not None and now < self.failed_at + RETRY_AFTER:
            return 0
        items = [item for item in self.due(config, now) if self.key(item) not in self.settled]
        if not items:
            return 0
        name = type(self).__name__
        try:
            with db.unit_of_work() as session:
                queued = self.queue(session, config, items, now)
        except IntegrityError:  # another relay queued the same mail first: theirs stands
            log.info("event=scheduled_mail_raced rounds=%s", name)
            return 0
        except Exception:
            self.failed_at = now
            raise
        self.failed_at = None
        keys = [self.key(item) for item in items]
        oldest = min(day for _, day in keys) - timedelta(days=7)
        self.settled = {pair for pair in self.settled if pair[1] >= oldest}
        self.settled.update(keys)
        if queued:
            log.info("event=scheduled_mail_queued rounds=%s count=%d", name, queued)
        return queued
