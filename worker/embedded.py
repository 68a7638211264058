"""The embedded broker's name, in a module that imports nothing: a job process of
``run`` on the embedded broker never loads Dramatiq, Redis's or RabbitMQ's clients
(about 12 MB and 0.2 s of CPU a process) just to learn that it needs none of them."""

EMBEDDED = "embedded"


def is_embedded(url: str) -> bool:
    return url == EMBEDDED
