"""Claims of the outbox shared between processes (``run --processes N``), on each database:
each look takes its share of what is due, oldest first, and no job twice."""

from __future__ import annotations

from sqlalchemy import func, select

from aliasdesk.claim_sizes import ClaimSize
from aliasdesk.db.models import Job
from aliasdesk.runtime import Runtime
from aliasdesk.services.outbox import claim_due_jobs
from tests.support.harness import build_mail, feed


def _requests(runtime: Runtime, count: int) -> list[int]:
    """``count`` new requests: one pending ``ticket_created`` job each, their ids."""
    mails = [build_mail(subject=f"Request {n}", message_id=f"<r{n}@x.test>") for n in range(count)]
    feed(runtime, *mails)
    with runtime.db.reader() as session:
        return list(session.scalars(select(Job.id).where(Job.state == "pending").order_by(Job.id)))


def test_two_sharers_take_half_of_a_burst_each_look(runtime: Runtime) -> None:
    pending = _requests(runtime, 7)
    assert len(pending) == 7
    shared = ClaimSize(200, sharers=2)
    looks = [claim_due_jobs(runtime.db, shared) for _ in range(4)]
    assert [len(look) for look in looks] == [4, 2, 1, 0]
    claimed = [job_id for look in looks for job_id, _kind in look]
    assert claimed == pending  # oldest first, each once
    with runtime.db.reader() as session:
        still = session.scalar(select(func.count()).select_from(Job).where(Job.state == "pending"))
    assert still == 0


def test_a_lone_process_takes_everything_due(runtime: Runtime) -> None:
    pending = _requests(runtime, 5)
    assert [job_id for job_id, _ in claim_due_jobs(runtime.db, ClaimSize())] == pending


def test_a_share_never_exceeds_a_full_claim(runtime: Runtime) -> None:
    pending = _requests(runtime, 9)
    small = ClaimSize(3, sharers=2)  # looks at 6, takes half of them
    looks = [claim_due_jobs(runtime.db, small) for _ in range(4)]
    assert [len(look) for look in looks] == [3, 3, 2, 1]
    assert [job_id for look in looks for job_id, _ in look] == pending
