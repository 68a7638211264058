"""The Dramatiq broker named by ALIASDESK_BROKER_URL (Redis or RabbitMQ).

"embedded" needs no broker at all: the outbox table is the queue and is drained in-process,
which is durable for free. FIELD-NOTES: declare no actor before a broker is set, or
Dramatiq quietly makes a RabbitMQ broker of its own.

ALIASDESK_BROKER_NAMESPACE prefixes every Redis key, so deployments (or test runs) sharing
one Redis server never take each other's jobs. RabbitMQ has no namespace in Dramatiq;
settings refuse one there, and so does :func:`make_broker`.

Each broker's client is imported only when the URL names that broker: a Redis worker
would otherwise hold pika (about 2 MB) and a RabbitMQ one the Redis client (about 6 MB)
for nothing.
"""

from __future__ import annotations

import dramatiq
from dramatiq.middleware import AgeLimit, Callbacks, Pipelines, Retries, ShutdownNotifications

from aliasdesk.settings.env import BROKER_NAMESPACE
from worker.embedded import EMBEDDED, is_embedded

__all__ = ["EMBEDDED", "is_embedded", "make_broker"]


def make_broker(url: str, namespace: str = BROKER_NAMESPACE) -> dramatiq.Broker:
    middleware = [AgeLimit(), ShutdownNotifications(), Callbacks(), Pipelines(), Retries()]
    broker: dramatiq.Broker
    if url.startswith(("redis://", "rediss://")):
        from dramatiq.brokers.redis import RedisBroker

        broker = RedisBroker(  # type: ignore[no-untyped-call]
            url=url, middleware=middleware, namespace=namespace
        )
    elif url.startswith(("amqp://", "amqps://")):
        if namespace != BROKER_NAMESPACE:
            raise ValueError("ALIASDESK_BROKER_NAMESPACE: applies to Redis brokers only")
        from dramatiq.brokers.rabbitmq import RabbitmqBroker

        broker = RabbitmqBroker(url=url, middleware=middleware)
    else:
        raise ValueError(f"ALIASDESK_BROKER_URL: unsupported broker {url!r}")
    dramatiq.set_broker(broker)
    return broker
