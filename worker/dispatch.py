"""How the relay hands jobs to workers: in-process on the embedded broker, else as
Dramatiq messages. The gateway receives the result as a plain ``Dispatch`` and never
learns which it is, so gateway and worker stay independent of each other."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from aliasdesk.relay import Dispatch, inline_dispatch
from aliasdesk.runtime import Runtime
from worker.embedded import is_embedded

if TYPE_CHECKING:  # Dramatiq is loaded only where a broker is configured
    import dramatiq


def broker_dispatch(runtime: Runtime) -> tuple[Dispatch, dramatiq.Broker | None]:
    """The dispatch for the configured broker, and the broker itself (None when embedded)."""
    if is_embedded(runtime.settings.broker_url):
        return inline_dispatch(runtime), None
    from worker.actors import declare_actors
    from worker.broker import make_broker

    broker = make_broker(runtime.settings.broker_url, runtime.settings.broker_namespace)
    return DramatiqDispatch(declare_actors(broker), broker), broker


class DramatiqDispatch:
    """Jobs as Dramatiq messages: single ids, or a claimed batch cut into slices so that
    several workers share it."""

    SLICE = 20

    def __init__(
        self, actors: dict[str, dramatiq.Actor[[int], None]], broker: dramatiq.Broker
    ) -> None:
        self.actors = actors
        self.batch = broker.get_actor("run_jobs")

    def __call__(self, job_id: int, kind: str) -> None:
        self.actors[kind].send(job_id)

    def many(self, jobs: Sequence[tuple[int, str]]) -> None:
        ids = [job_id for job_id, _ in jobs]
        for start in range(0, len(ids), self.SLICE):
            self.batch.send(ids[start : start + self.SLICE])
