"""How many jobs one claim of the relay takes. A module of its own, with nothing to
import: ``run`` reads it before it starts its job processes, and the relay's own module
brings in most of aliasdesk."""

from __future__ import annotations

from dataclasses import dataclass

CLAIM_BATCH = 200
"""The most jobs one claim takes. A claim reads its tickets, links and files once and
opens its SMTP round trips once, so larger claims cost less CPU per job: under ``run
--processes 2`` on the bench's mailbox, claims of 50 took 5.1 ms of CPU a request where
claims of 200 took 4.6 (1,000 mails, medians of 3 interleaved runs each)."""


@dataclass(frozen=True, slots=True)
class ClaimSize:
    """How many of the due jobs this process claims at a time.

    A process that runs jobs alone (``sharers`` 1) takes up to ``most``. Where ``sharers``
    processes run them (``run --processes N``), each takes an even share of the jobs it
    sees due, up to ``most``: a burst of mail is spread over the processes instead of going
    whole to whichever looked first, and a backlog still goes in full claims. A fixed
    smaller claim for the shared case (50) ran 227 mails/s where claims of 200 ran 267
    (medians of 3).
    """

    most: int = CLAIM_BATCH
    sharers: int = 1

    def __post_init__(self) -> None:
        if self.most < 1 or self.sharers < 1:
            raise ValueError("a claim takes at least one job, shared by at least one process")

    @property
    def looked_at(self) -> int:
        """How many due jobs to look at to judge the share: every process's full claim."""
        return self.most * self.sharers

    def share_of(self, due: int) -> int:
        """This process's claim out of ``due`` jobs seen due: rounded up, so none is left
        over, and at least one."""
        return max(1, min(self.most, -(-due // self.sharers)))


ALONE = ClaimSize()
"""The claims of a process that runs the jobs by itself."""
