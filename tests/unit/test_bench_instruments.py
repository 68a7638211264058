"""The bench's CPU instruments: the figures that explain a missed target must be right."""

from __future__ import annotations

import subprocess
import sys

from bench.instruments import CpuBudget, CpuMeter, RssSampler
from bench.report import cpu_rows

BURN = "import time\nend = time.process_time() + {seconds}\nwhile time.process_time() < end: pass"


def _burner(seconds: float) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", BURN.format(seconds=seconds)])


def test_cpu_of_a_watched_process_is_charged_to_its_label() -> None:
    meter = CpuMeter()
    running = _burner(0.4)
    meter.watch("worker1", running.pid)
    meter.start()
    running.wait(timeout=30)
    budget = meter.stop()
    # it ended before stop(): its time comes from the kernel's account of waited children
    assert 0.3 <= budget.cpu_s["worker1"] <= 1.5, budget
    assert budget.window_s > 0.3


def test_a_process_still_running_at_stop_is_read_live() -> None:
    meter = CpuMeter()
    meter.start()
    running = _burner(5.0)
    meter.watch("run", running.pid)
    try:
        # let it run while a second process of ours burns 0.3 s
        subprocess.run([sys.executable, "-c", BURN.format(seconds=0.3)], check=True)
        budget = meter.stop()
    finally:
        running.kill()
        running.wait()
    assert budget.cpu_s.get("run", 0.0) > 0.05, budget


def test_report_charges_everything_but_other_and_names_the_ceilings() -> None:
    result = {
        "cpu_ms_per_mail": {
            "sqlite+embedded (run)": {"run": 6.0, "bench+sink": 2.0, "other": 50.0},
            "postgresql+redis (gateway + 2 workers)": {
                "worker1": 3.0,
                "worker2": 3.0,
                "gateway": 2.0,
                "postgresql": 2.0,
            },
        }
    }
    rows = cpu_rows(result)
    assert rows[0][:2] == ("CPU per mail [sqlite+embedded (run)]", "8.0 ms")
    assert "other 50.0" in rows[0][3]
    assert rows[1][3] == "2-core ceiling 250 mails/s; one core for run alone: 167 mails/s"
    assert rows[2][1] == "10.0 ms"
    assert rows[3][3].startswith("2-core ceiling 200 mails/s; one core for gateway alone: 500")


def test_budget_per_mail_and_cores() -> None:
    budget = CpuBudget(window_s=4.0, cpu_s={"run": 2.0, "dovecot": 0.6})
    assert budget.cores() == {"run": 0.5, "dovecot": 0.15}
    assert budget.ms_per_mail(500) == {"run": 4.0, "dovecot": 1.2}


HOLD = "data = bytearray({mb} * 2**20)\nimport time\ntime.sleep({seconds})"
PARENT = (
    "import subprocess, sys\n"
    "child = subprocess.Popen([sys.executable, '-c', {child!r}])\n"
    "child.wait()"
)


def test_a_process_watched_with_children_counts_their_memory_too() -> None:
    """``aliasdesk import`` parses in a helper process: its memory is the import's."""
    child = HOLD.format(mb=120, seconds=1.5)
    with RssSampler() as rss:
        alone = subprocess.Popen([sys.executable, "-c", PARENT.format(child=child)])
        family = subprocess.Popen([sys.executable, "-c", PARENT.format(child=child)])
        rss.watch("alone", alone.pid)
        rss.watch("family", family.pid, with_children=True)
        alone.wait(timeout=30)
        family.wait(timeout=30)
    peak = rss.peak_mb()
    assert peak["alone"] < 60, peak
    assert peak["family"] > 120, peak
