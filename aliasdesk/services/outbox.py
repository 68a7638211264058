"""The relay's side of the outbox: which committed jobs are due, claimed for publishing.

Claiming flips ``pending`` to ``published`` with a conditional UPDATE, so two relays never
publish one job. A published job names the process answering for it (``holder``): the
relay that published it, then the worker running it (:func:`hold_jobs`); when that process
is known to be dead its jobs are due again at once (:mod:`aliasdesk.services.takeover`). A
job published but not done within the lease (a broker that lost it, a holder nobody can
judge) goes back to ``pending``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, update

from aliasdesk.claim_sizes import ALONE, ClaimSize
from aliasdesk.db.models import Job
from aliasdesk.db.session import Database
from aliasdesk.services.holders import this_holder
from aliasdesk.settings.environment import environment_value

DEFAULT_PUBLISH_LEASE = 180.0
PUBLISH_LEASE_VARIABLE = "ALIASDESK_PUBLISH_LEASE_SECONDS"


def publish_lease() -> timedelta:
    """How long a published job may stay unfinished before it is published again."""
    try:
        seconds = float(environment_value(PUBLISH_LEASE_VARIABLE) or DEFAULT_PUBLISH_LEASE)
    except ValueError:
        seconds = DEFAULT_PUBLISH_LEASE
    return timedelta(seconds=max(seconds, 0.1))


PUBLISH_LEASE = publish_lease()


def claim_due_jobs(db: Database, claims: ClaimSize = ALONE) -> list[tuple[int, str]]:
    """Publish this process's share of the due jobs (``claims``), oldest first: the
    ids and kinds it now answers for."""
    now = datetime.now(UTC)
    with db.unit_of_work() as session:
        session.execute(
            update(Job)
            .where(Job.state == "published", Job.published_at < now - publish_lease())
            .values(state="pending", published_at=None, holder=None)
        )
        due = session.scalars(
            select(Job.id)
            .where(Job.state == "pending", Job.available_at <= now)
            .order_by(Job.id)
            .limit(claims.looked_at)
        ).all()
        if not due:
            return []
        due = due[: claims.share_of(len(due))]
        # One conditional UPDATE for the whole batch: a job another relay took meanwhile
        # is no longer pending and does not come back in RETURNING.
        claimed = [
            (job_id, kind)
            for job_id, kind in session.execute(
                update(Job)
                .where(Job.id.in_(list(due)), Job.state == "pending")
                .values(state="published", published_at=now, holder=this_holder().name)
                .returning(Job.id, Job.kind)
                .execution_options(synchronize_session=False)
            ).all()
        ]
    return sorted(claimed)


def hold_jobs(db: Database, job_ids: Sequence[int]) -> None:
    """Name this process as the one running these published jobs (a broker's worker), so
    that they are published again at once if it dies, not when the lease runs out."""
    me = this_holder().name
    with db.unit_of_work() as session:
        session.execute(
            update(Job)
            .where(Job.id.in_(list(job_ids)), Job.state == "published")
            .where(Job.holder.is_distinct_from(me))
            .values(holder=me)
            .execution_options(synchronize_session=False)
        )


def unfinished_jobs(db: Database) -> tuple[int, datetime | None]:
    """How many jobs are not done, and when the next pending one becomes due."""
    with db.reader() as session:
        count = session.scalar(select(func.count()).select_from(Job).where(Job.state != "done"))
        next_due = session.scalar(select(func.min(Job.available_at)).where(Job.state == "pending"))
    return int(count or 0), next_due
