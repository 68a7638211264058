"""Thin Dramatiq actors: each takes a job id and hands it to the JobRunner.

Retries of the mail itself are scheduled in the database (durable across broker restarts);
Dramatiq's own retries only cover a job that crashed, e.g. while the database was down.
Each actor first names this process as the jobs' holder, so that if it dies mid-job they
are published again at once instead of after the broker's or the outbox's timeout.
"""

from __future__ import annotations

from collections.abc import Callable

import dramatiq

from aliasdesk.services.jobs import JobRunner
from aliasdesk.services.outbox import hold_jobs

QUEUE = "aliasdesk"
_runner: JobRunner | None = None


def install_runner(runner: JobRunner) -> None:
    global _runner
    _runner = runner


def _run(job_id: int) -> None:
    if _runner is None:
        raise RuntimeError("worker started without a job runner")
    hold_jobs(_runner.db, [job_id])
    _runner.run(job_id)


def _run_many(job_ids: list[int]) -> None:
    if _runner is None:
        raise RuntimeError("worker started without a job runner")
    hold_jobs(_runner.db, job_ids)
    _runner.run_many(job_ids)


def declare_batch_actor(broker: dramatiq.Broker) -> dramatiq.Actor[[list[int]], None]:
    """One message for a slice of a relay batch: fewer broker round trips and commits."""
    fn: Callable[[list[int]], None] = _run_many
    return dramatiq.actor(  # type: ignore[call-overload,no-any-return]
        fn,
        actor_name="run_jobs",
        queue_name=QUEUE,
        broker=broker,
        max_retries=5,
        min_backoff=1000,
        max_backoff=60_000,
    )


def declare_actors(broker: dramatiq.Broker) -> dict[str, dramatiq.Actor[[int], None]]:
    """One actor per job kind (and the batch actor), all on the aliasdesk queue."""
    declare_batch_actor(broker)

    def make(name: str) -> dramatiq.Actor[[int], None]:
        fn: Callable[[int], None] = _run
        return dramatiq.actor(  # type: ignore[call-overload,no-any-return]
            fn,
            actor_name=name,
            queue_name=QUEUE,
            broker=broker,
            max_retries=5,
            min_backoff=1000,
            max_backoff=60_000,
        )

    return {"ticket_created": make("assign_owner"), "deliver": make("deliver_notification")}
