"""The load client of ``bench.web_speed``: aiohttp on uvloop, in three shapes of load.

- ``first_views``: every page once, as after a change of every ticket (nothing cached).
- ``open_loop``: ``users`` people, each loading a page and reading it; together they
  start ``rate`` page loads a second at random (Poisson) moments, whether or not the
  server kept up. A user whose previous page has not come yet starts the next one when
  it does (a person waits for their page), and the time counts from the moment the load
  was due, so a slow server cannot hide its backlog (no coordinated omission).
- ``closed_loop``: ``users`` clients that ask again the instant an answer arrives.
  This measures the most pages a second the machine gives, not how long a person
  waits: by Little's law the mean time a page takes is then ``users / throughput``
  whatever the page costs, so 50 such clients see a 50 ms mean only at 1,000 pages a
  second.

aiohttp is used because its C parser and one connection per user keep the client's own
CPU per page low; the client shares the machine with the server, and every millisecond
it spends is taken from the server.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import aiohttp

LATE_MS = 5.0
"""An open-loop load that starts this much after it was due counts as late: the client
(or the machine) could not keep the pace, and the figures say more about it than the page."""


@dataclass(frozen=True)
class Timings:
    """The latencies of one phase in milliseconds, how long it lasted, and late starts."""

    latencies: list[float]
    seconds: float
    late: int = 0

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0


def _user_session(base: str) -> aiohttp.ClientSession:
    """One browser: one keep-alive connection, its own cookies (none are set)."""
    connector = aiohttp.TCPConnector(limit=1, force_close=False)
    timeout = aiohttp.ClientTimeout(total=60)
    return aiohttp.ClientSession(base_url=base, connector=connector, timeout=timeout)


async def _fetch(browser: aiohttp.ClientSession, path: str) -> None:
    async with browser.get(path) as answer:
        await answer.read()
        if answer.status != 200:
            raise SystemExit(f"{path}: HTTP {answer.status}")


async def _with_users(
    base: str, users: int, work: Callable[[int, aiohttp.ClientSession], Awaitable[None]]
) -> float:
    """Run ``work(n, browser)`` for each of ``users`` browsers at once; the seconds taken."""
    browsers = [_user_session(base) for _ in range(users)]
    try:
        began = time.perf_counter()
        await asyncio.gather(*(work(n, browser) for n, browser in enumerate(browsers)))
        return time.perf_counter() - began
    finally:
        await asyncio.gather(*(browser.close() for browser in browsers))


async def first_views(base: str, paths: Sequence[str], users: int) -> Timings:
    """Each page once, ``users`` at a time."""
    latencies: list[float] = []
    queue = iter(paths)

    async def work(_n: int, browser: aiohttp.ClientSession) -> None:
        for path in queue:  # one shared iterator: the users take turns at it
            started = time.perf_counter()
            await _fetch(browser, path)
            latencies.append((time.perf_counter() - started) * 1000)

    return Timings(latencies, await _with_users(base, users, work))


async def closed_loop(base: str, paths: Sequence[str], users: int, total: int) -> Timings:
    """``total`` loads from ``users`` clients that never pause."""
    latencies: list[float] = []
    queue = iter(range(total))

    async def work(_n: int, browser: aiohttp.ClientSession) -> None:
        for _ in queue:
            started = time.perf_counter()
            await _fetch(browser, random.choice(paths))
            latencies.append((time.perf_counter() - started) * 1000)

    return Timings(latencies, await _with_users(base, users, work))


async def open_loop(
    base: str, paths: Sequence[str], users: int, rate: float, seconds: float
) -> Timings:
    """``users`` people who together start ``rate`` loads a second for ``seconds``."""
    latencies: list[float] = []
    late = 0
    each = rate / users  # one person's rate; the sum of Poisson arrivals is Poisson
    origin = time.perf_counter() + 0.05

    async def work(n: int, browser: aiohttp.ClientSession) -> None:
        nonlocal late
        chance = random.Random(n)
        due = origin + chance.expovariate(each)
        while due < origin + seconds:
            wait = due - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
            elif -wait * 1000 > LATE_MS:
                late += 1
            await _fetch(browser, chance.choice(paths))
            latencies.append((time.perf_counter() - due) * 1000)
            due += chance.expovariate(each)

    await _with_users(base, users, work)
    return Timings(latencies, seconds, late)
