"""The weekly report's charts: real PNG pictures, the same bytes for the same figures, and
matplotlib loaded only by a process that draws one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from aliasdesk.notify import charts

ROOT = Path(__file__).resolve().parents[2]
PNG = b"\x89PNG\r\n\x1a\n"


def _size(png: bytes) -> tuple[int, int]:
    """Width and height from the IHDR chunk (PNG §11.2.2)."""
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")


def test_each_chart_is_a_small_png_drawn_the_same_every_time() -> None:
    days = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
    drawn = [
        charts.tickets_per_day(days, [3, 4, 1, 0, 2, 0, 0], [1, 2, 3, 1, 1, 0, 0]),
        charts.first_responses(["a", "b", "c", "d", "e"], [4, 3, 1, 0, 1], 2),
        charts.satisfaction([0, 1, 0, 2, 5], [1, 0, 1, 1, 3]),
    ]
    for png in drawn:
        assert png.startswith(PNG) and _size(png) == (600, 240)
        assert 2_000 < len(png) < 60_000
    assert charts.satisfaction([0, 1, 0, 2, 5], [1, 0, 1, 1, 3]) == drawn[2]
    assert charts.satisfaction([0, 1, 0, 2, 6], [1, 0, 1, 1, 3]) != drawn[2]


def test_loading_every_notification_kind_does_not_load_matplotlib() -> None:
    code = (
        "import sys\n"
        "from aliasdesk.notify.catalogue import all_kinds\n"
        "assert all_kinds()\n"
        "print('matplotlib' in sys.modules)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert done.stdout.strip() == "False"


def test_a_phone_gets_a_narrow_chart_and_a_quiet_week_still_draws() -> None:
    buckets = ["up to 50 %", "50-100 %", "100-150 %", "150-200 %", "over 200 %"]
    narrow = charts.first_responses(buckets, [0, 0, 0, 0, 0], 2, charts.NARROW)
    assert narrow.startswith(PNG) and _size(narrow) == (320, 260)
    wide = charts.first_responses(buckets, [0, 0, 0, 0, 0], 2)
    assert _size(wide) == (600, 240) and wide != narrow
