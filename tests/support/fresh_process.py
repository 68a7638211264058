"""What a piece of Python prints in a new interpreter: the import probes ask a process that
has loaded nothing yet what a command would load, which this test process cannot tell."""

from __future__ import annotations

import subprocess
import sys


def printed_by_fresh_process(code: str) -> str:
    """Run ``code`` with this test run's interpreter; its standard output, stripped."""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    return done.stdout.strip()
