"""Instruments the bench reads processes with: resident memory and CPU time.

Resident memory is sampled every 100 ms per labelled process (peak and trajectory, so
growth with backlog size shows); a process watched with its children (``aliasdesk
import`` and its helper process) counts the sum of their resident sets, pages they share
counted in each (an upper bound, never an under-count).

CPU time answers where a run's time went. On a 2-core machine every contender shares the
cores with the SMTP sink, Dovecot, the database and the broker. A throughput figure alone
cannot tell whether a process was the bottleneck or the machine was simply full, and that
decides which target is reachable at all: ``aliasdesk run`` is one process (gateway and
worker, as the contract says), so one core caps it, and a second worker process can only
add what the other core has left.

Every process on the machine is read at the start and at the end of the window and put
into one group: the processes being measured under their labels, this bench process (which
hosts the SMTP sink and the acknowledgement watcher), Dovecot, PostgreSQL, Redis, and
everything else. A process that starts inside the window counts from zero; one that ends
inside it is lost, which only ever under-counts.
"""

from __future__ import annotations

import contextlib
import os
import resource
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import psutil

BENCH = "bench+sink"


class RssSampler:
    """Samples the resident set of labelled processes every 100 ms (peak and trajectory)."""

    def __init__(self, interval: float = 0.1) -> None:
        self.interval = interval
        self.processes: dict[str, psutil.Process] = {}
        self.with_children: set[str] = set()
        self.peak: dict[str, int] = {}
        self.samples: dict[str, list[int]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="rss", daemon=True)

    def watch(self, label: str, pid: int, *, with_children: bool = False) -> None:
        """Sample ``pid``; ``with_children``: and every process it starts, as one."""
        self.processes[label] = psutil.Process(pid)
        if with_children:
            self.with_children.add(label)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=2)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            for label, process in list(self.processes.items()):
                with contextlib.suppress(psutil.Error):
                    rss = process.memory_info().rss
                    if label in self.with_children:
                        rss += _children_rss(process)
                    self.peak[label] = max(self.peak.get(label, 0), rss)
                    self.samples.setdefault(label, []).append(rss)

    def peak_mb(self) -> dict[str, float]:
        return {label: round(rss / 2**20, 1) for label, rss in self.peak.items()}


def _children_rss(process: psutil.Process) -> int:
    total = 0
    for child in process.children(recursive=True):
        with contextlib.suppress(psutil.Error):  # it may end between listing and reading
            total += child.memory_info().rss
    return total


def _group(process: psutil.Process, labels: Mapping[int, str]) -> str:
    if process.pid in labels:
        return labels[process.pid]
    if process.pid == os.getpid():
        return BENCH
    name = process.name()
    if name.startswith("dovecot") or name in {"imap", "imap-login", "auth", "anvil", "log"}:
        return "dovecot"
    if name.startswith("postgres"):
        return "postgresql"
    if name.startswith("redis"):
        return "redis"
    return "other"


def _snapshot(labels: Mapping[int, str]) -> dict[int, tuple[str, float]]:
    seen: dict[int, tuple[str, float]] = {}
    for process in psutil.process_iter():
        try:
            times = process.cpu_times()
            seen[process.pid] = (_group(process, labels), times.user + times.system)
        except psutil.Error:
            continue
    return seen


@dataclass(frozen=True)
class CpuBudget:
    """CPU seconds per group over ``window_s`` seconds of wall time."""

    window_s: float
    cpu_s: dict[str, float]

    def cores(self) -> dict[str, float]:
        """Average cores each group kept busy (1.0 = one core all the time)."""
        if self.window_s <= 0:
            return {}
        return {group: round(cpu / self.window_s, 2) for group, cpu in self.cpu_s.items()}

    def ms_per_mail(self, mails: int) -> dict[str, float]:
        return {group: round(cpu * 1000 / mails, 2) for group, cpu in self.cpu_s.items()}


def _waited_children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class CpuMeter:
    """Start, run the measured work, stop: the CPU each group used in between."""

    def __init__(self) -> None:
        self.labels: dict[int, str] = {}
        self._before: dict[int, tuple[str, float]] = {}
        self._children_before = 0.0
        self._started = 0.0

    def watch(self, label: str, pid: int) -> None:
        self.labels[pid] = label

    def start(self) -> None:
        self._before = _snapshot(self.labels)
        self._children_before = _waited_children_cpu()
        self._started = time.monotonic()

    def stop(self) -> CpuBudget:
        window = time.monotonic() - self._started
        spent: dict[str, float] = {}
        now = _snapshot(self.labels)
        for pid, (group, cpu) in now.items():
            earlier = self._before.get(pid)
            used = cpu - earlier[1] if earlier is not None and earlier[0] == group else cpu
            spent[group] = spent.get(group, 0.0) + max(used, 0.0)
        exited = sorted(label for pid, label in self.labels.items() if pid not in now)
        if exited:
            # a measured process that already ended (the bare loop) is no longer there to
            # be read; the kernel's account of this process's waited-for children has it
            group = "+".join(exited)
            spent[group] = spent.get(group, 0.0) + _waited_children_cpu() - self._children_before
        return CpuBudget(
            window_s=round(window, 3),
            cpu_s={g: round(s, 3) for g, s in sorted(spent.items(), key=lambda kv: -kv[1])},
        )


def growth(samples: list[int]) -> float:
    """A process's RSS at the end over its RSS a tenth of the way in (1.0: flat)."""
    if len(samples) < 10:
        return 1.0
    return round(samples[-1] / samples[len(samples) // 10], 2)


def started_children(pid: int, count: int, timeout: float = 30.0) -> list[int]:
    """The pids of the ``count`` children ``pid`` starts (waited for, up to ``timeout``)."""
    deadline = time.monotonic() + timeout
    found: list[int] = []
    while count > 0 and time.monotonic() < deadline:
        with contextlib.suppress(psutil.Error):
            found = [child.pid for child in psutil.Process(pid).children()]
        if len(found) >= count:
            break
        time.sleep(0.01)
    return found


def stop_all(processes: Sequence[subprocess.Popen[bytes]]) -> None:
    """SIGTERM to every measured process still running, SIGKILL to any that hangs."""
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
