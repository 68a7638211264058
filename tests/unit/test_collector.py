"""The collector's setting for long-running processes (aliasdesk/collector.py).

Each check runs in a fresh interpreter: freezing the heap is done once per process, and
doing it inside the test process would change the collector for every test after it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _fresh(code: str) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_start_up_is_frozen_once_and_the_youngest_looked_at_less_often() -> None:
    found = _fresh(
        "import gc, json\n"
        "from aliasdesk.collector import YOUNGEST, settle_after_start_up\n"
        "before = gc.get_threshold()\n"
        "settle_after_start_up()\n"
        "frozen = gc.get_freeze_count()\n"
        "made_since = [[] for _ in range(100)]\n"
        "settle_after_start_up()\n"
        "print(json.dumps({'before': before, 'after': gc.get_threshold(), 'frozen': frozen,"
        " 'again': gc.get_freeze_count(), 'youngest': YOUNGEST}))\n"
    )
    before, youngest = found["before"], found["youngest"]
    assert isinstance(before, list) and isinstance(youngest, int) and before[0] < youngest
    assert found["after"] == [youngest, *before[1:]]  # the older generations as they were
    assert isinstance(found["frozen"], int) and found["frozen"] > 1000
    assert found["again"] == found["frozen"]  # the 100 lists made since were not frozen


def test_cycles_made_after_start_up_are_still_collected() -> None:
    """Nothing is switched off: a mail's reference cycle goes once enough is allocated."""
    found = _fresh(
        "import gc, json, weakref\n"
        "from aliasdesk.collector import YOUNGEST, settle_after_start_up\n"
        "settle_after_start_up()\n"
        "class Node: pass\n"
        "a, b = Node(), Node()\n"
        "a.other, b.other = b, a\n"
        "gone = weakref.ref(a)\n"
        "del a, b\n"
        "alive_at_once = gone() is not None\n"
        "kept = [[] for _ in range(YOUNGEST * 3)]\n"
        "print(json.dumps({'alive_at_once': alive_at_once, 'alive_later': gone() is not None}))\n"
    )
    assert found == {"alive_at_once": True, "alive_later": False}
