"""The cyclic garbage collector, set for a process that takes mail for a long time.

CPython looks for reference cycles each time 700 more container objects were made than
freed, and every tenth look also goes through the survivors of the looks before. In
``run``, its job processes and ``import`` those looks took about 4 % of each process's
CPU (0.3–0.4 s of 7–10 s, 1,000 and 5,000 mails, timed with ``gc.callbacks``), although
nearly every object a mail makes is freed by its reference count as soon as the mail is
done. What the looks kept walking is what start-up made and keeps: modules, SQLAlchemy's
mappers, the compiled templates, the rules.

So once a long-running process has started, what exists then is frozen (the collector
never looks at it again; it lives as long as the process anyway), and the youngest
generation is looked at every ``YOUNGEST`` allocations. Cycles are still collected, a
little later: 10,000 objects of a mail's size are a few MB at most. Nothing else changes.
"""

from __future__ import annotations

import gc

YOUNGEST = 10_000
"""Allocations (net of frees) between two looks at the youngest generation; 700 by default.
With 10,000 a 5,000-mail import made 25 looks instead of 612, in 0.08 s instead of 0.4 s."""

_settled = False


def settle_after_start_up() -> None:
    """Collect start-up's garbage, freeze what is left, and look less often from now on.
    Once per process: a second call (tests run several commands in one process) does
    nothing, so a process's heap is frozen once, right after its first start-up."""
    global _settled
    if _settled:
        return
    _settled = True
    gc.collect()  # start-up's garbage goes now, rather than being frozen for good
    gc.freeze()
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(YOUNGEST, middle, oldest)
