"""Two Dramatiq brokers on one real Redis: a different namespace never sees the other's
messages, the same namespace (another broker, as another process would have) does."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import dramatiq
import pytest
from dramatiq import Worker

from tests.support.backends import BROKER_NAMESPACE, REDIS_URL, clear_namespace, namespace_keys
from tests.support.services import port_open, service_missing
from worker.broker import make_broker

pytestmark = pytest.mark.redis

QUEUE = "namespace_probe"
ONE = f"{BROKER_NAMESPACE}-one"
OTHER = f"{BROKER_NAMESPACE}-other"


class Probe:
    """One broker with the probe actor declared, and what its workers received."""

    def __init__(self, namespace: str) -> None:
        self.broker = make_broker(REDIS_URL, namespace)
        self.received: list[str] = []
        self.arrived = threading.Event()

        def probe(text: str) -> None:
            self.received.append(text)
            self.arrived.set()

        declare = dramatiq.actor(broker=self.broker, actor_name="probe", queue_name=QUEUE)
        self.actor: dramatiq.Actor[[str], None] = declare(probe)

    def consume(self, seconds: float) -> list[str]:
        """Run a worker until a message arrives or ``seconds`` pass; what it received."""
        worker = Worker(self.broker, worker_threads=1, worker_timeout=50)
        worker.start()
        try:
            self.arrived.wait(seconds)
            time.sleep(0.2)  # a second delivery, if there were one, would show now
        finally:
            worker.stop()
        return list(self.received)


@pytest.fixture
def probes() -> Iterator[list[Probe]]:
    if not port_open("127.0.0.1", 6379):
        service_missing("Redis", "nothing listens on 127.0.0.1:6379")
    for namespace in (ONE, OTHER):
        clear_namespace(REDIS_URL, namespace)
    made: list[Probe] = []
    yield made
    for probe in made:
        probe.broker.close()
    for namespace in (ONE, OTHER):
        clear_namespace(REDIS_URL, namespace)


def _queued(namespace: str) -> int:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        return int(client.hlen(f"{namespace}:{QUEUE}.msgs"))
    finally:
        client.close()


def test_another_namespace_does_not_see_the_message(probes: list[Probe]) -> None:
    sender, stranger = Probe(ONE), Probe(OTHER)
    probes += [sender, stranger]
    sender.actor.send("for namespace one")
    assert _queued(ONE) == 1
    assert _queued(OTHER) == 0 and namespace_keys(REDIS_URL, OTHER) == []
    assert stranger.consume(2.0) == []
    assert _queued(ONE) == 1, "the message left its own namespace"


def test_the_same_namespace_does_see_it(probes: list[Probe]) -> None:
    sender, colleague = Probe(ONE), Probe(ONE)
    probes += [sender, colleague]
    sender.actor.send("for namespace one")
    assert colleague.consume(20.0) == ["for namespace one"]
    assert _queued(ONE) == 0
