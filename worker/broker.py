"""The Dramatiq broker named by ALIASDESK_BROKER_URL (Redis or RabbitMQ).

"embedded" needs no broker at all: the outbox table is the queue and is drained in-process,
which is durable for free. FIELD-NOTES: declare no actor before a broker is set, or
Dramatiq quietly makes a RabbitMQ broker of its own.
"""

from __future__ import annotations

import dramatiq
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import AgeLimit, Callbacks, Pipelines, Retries, ShutdownNotifications

EMBEDDED = "embedded"


def is_embedded(url: str) -> bool:
    return url == EMBEDDED


def make_broker(url: str) -> dramatiq.Broker:
    middleware = [AgeLimit(), ShutdownNotifications(), Callbacks(), Pipelines(), Retries()]
    broker: dramatiq.Broker
    if url.startswith(("redis://", "rediss://")):
        broker = RedisBroker(url=url, middleware=middleware)  # type: ignore[no-untyped-call]
    elif url.startswith(("amqp://", "amqps://")):
        broker = RabbitmqBroker(url=url, middleware=middleware)
    else:
        raise ValueError(f"ALIASDESK_BROKER_URL: unsupported broker {url!r}")
    dramatiq.set_broker(broker)
    return broker
