"""The reliability summary: what the crash and fault tests measured, as one table.

The tests in tests/crash and tests/faults append one JSON object per line to the file named
by ``ALIASDESK_RELIABILITY_REPORT`` (no variable: nothing is written). This module reads it
back and prints the figures that matter to an operator:

    python -m tests.reliability_report FILE

Every record has ``scenario`` and ``kind`` ("kill", "fault", "concurrency", "loop" or
"load") plus whichever counters it measured: ``kills``, ``mails``, ``lost``,
``tickets_doubled``, ``different_duplicates``, ``same_id_resends``, ``recovery_s``,
``settle_s`` and free-form ``notes``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

REPORT_VARIABLE = "ALIASDESK_RELIABILITY_REPORT"


def record(scenario: str, kind: str, **figures: Any) -> None:
    """Append one scenario's figures to the report file, if one is configured."""
    target = os.environ.get(REPORT_VARIABLE, "").strip()
    if not target:
        return
    entry = {"scenario": scenario, "kind": kind, "at": time.time(), **figures}
    path = Path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    # One short write per line in append mode: concurrent test processes do not interleave.
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(entry, sort_keys=True, default=str) + "\n")


def load(path: Path) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            entries.append(json.loads(line))
        except json.JSONDecodeError:
            print(f"{path}:{number}: not JSON, skipped", file=sys.stderr)
    return entries


def _total(entries: Iterable[dict[str, Any]], key: str) -> int:
    return sum(int(e.get(key) or 0) for e in entries)


def _seconds(value: Any) -> str:
    return "-" if value is None else f"{float(value):.1f} s"


def summary(entries: Sequence[dict[str, Any]]) -> list[tuple[str, str]]:
    """The headline figures as (label, value) rows."""
    kills = [e for e in entries if e.get("kind") == "kill"]
    faults = [e for e in entries if e.get("kind") == "fault"]
    recoveries = [float(e["recovery_s"]) for e in entries if e.get("recovery_s") is not None]
    return [
        ("scenarios recorded", str(len(entries))),
        ("kills survived (SIGKILL)", str(_total(kills, "kills"))),
        ("faults survived", f"{sum(1 for e in faults if e.get('recovered'))} of {len(faults)}"),
        ("mails appended", str(_total(entries, "mails"))),
        ("mails lost (must be 0)", str(_total(entries, "lost"))),
        ("tickets doubled (must be 0)", str(_total(entries, "tickets_doubled"))),
        (
            "different duplicate mails sent (must be 0)",
            str(_total(entries, "different_duplicates")),
        ),
        ("same-Message-ID resends", str(_total(entries, "same_id_resends"))),
        ("longest recovery", _seconds(max(recoveries) if recoveries else None)),
    ]


def scenario_rows(entries: Sequence[dict[str, Any]]) -> list[list[str]]:
    rows = []
    for e in entries:
        rows.append(
            [
                str(e.get("scenario", "?")),
                str(e.get("kills", "-")),
                str(e.get("mails", "-")),
                str(e.get("lost", "-")),
                str(e.get("tickets_doubled", "-")),
                str(e.get("different_duplicates", "-")),
                str(e.get("same_id_resends", "-")),
                _seconds(e.get("recovery_s")),
                _seconds(e.get("settle_s")),
                str(e.get("notes", "")),
            ]
        )
    return rows


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(c)) for c in column) for column in zip(header, *rows, strict=False)]
    line = "  ".join("-" * w for w in widths)
    out = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)), line]
    out += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(out)


def render(entries: Sequence[dict[str, Any]]) -> str:
    head = _table(["figure", "value"], [list(r) for r in summary(entries)])
    detail = _table(
        [
            "scenario",
            "kills",
            "mails",
            "lost",
            "doubled",
            "diff dup",
            "resends",
            "recovery",
            "settle",
            "notes",
        ],
        scenario_rows(entries),
    )
    return f"aliasdesk reliability summary\n\n{head}\n\nper scenario\n\n{detail}\n"


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    target = args[0] if args else os.environ.get(REPORT_VARIABLE, "")
    if not target:
        print(f"usage: python -m tests.reliability_report FILE (or set {REPORT_VARIABLE})")
        return 2
    path = Path(target)
    if not path.exists():
        print(f"{path}: no report (did the reliability tests run?)", file=sys.stderr)
        return 1
    entries = load(path)
    print(render(entries))
    bad = _total(entries, "lost") + _total(entries, "tickets_doubled")
    return 1 if bad + _total(entries, "different_duplicates") else 0


if __name__ == "__main__":
    sys.exit(main())
