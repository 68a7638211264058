"""The relay's side of the outbox: which committed jobs are due, claimed for publishing.

Claiming flips ``pending`` to ``published`` with a conditional UPDATE, so two relays never
publish one job; a job published but not done within the lease (a broker that lost it, a
worker that died) goes back to ``pending``.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, update

from aliasdesk.db.models import Job
from aliasdesk.db.session import Database

DEFAULT_PUBLISH_LEASE = 180.0
PUBLISH_LEASE_VARIABLE = "ALIASDESK_PUBLISH_LEASE_SECONDS"


def publish_lease() -> timedelta:
    """How long a published job may stay unfinished before it is published again."""
    try:
        seconds = float(os.environ.get(PUBLISH_LEASE_VARIABLE, "") or DEFAULT_PUBLISH_LEASE)
    except ValueError:
        seconds = DEFAULT_PUBLISH_LEASE
    return timedelta(seconds=max(seconds, 0.1))


PUBLISH_LEASE = publish_lease()


def claim_due_jobs(db: Database, limit: int = 200) -> list[tuple[int, str]]:
    now = datetime.now(UTC)
    with db.unit_of_work() as session:
        session.execute(
            update(Job)
            .where(Job.state == "published", Job.published_at < now - publish_lease())
            .values(state="pending", published_at=None)
        )
        due = session.scalars(
            select(Job.id)
            .where(Job.state == "pending", Job.available_at <= now)
            .order_by(Job.id)
            .limit(limit)
        ).all()
        if not due:
            return []
        # One conditional UPDATE for the whole batch: a job another relay took meanwhile
        # is no longer pending and does not come back in RETURNING.
        claimed = [
            (job_id, kind)
            for job_id, kind in session.execute(
                update(Job)
                .where(Job.id.in_(list(due)), Job.state == "pending")
                .values(state="published", published_at=now)
                .returning(Job.id, Job.kind)
                .execution_options(synchronize_session=False)
            ).all()
        ]
    return sorted(claimed)


def unfinished_jobs(db: Database) -> tuple[int, datetime | None]:
    """How many jobs are not done, and when the next pending one becomes due."""
    with db.reader() as session:
        count = session.scalar(select(func.count()).select_from(Job).where(Job.state != "done"))
        next_due = session.scalar(select(func.min(Job.available_at)).where(Job.state == "pending"))
    return int(count or 0), next_due
