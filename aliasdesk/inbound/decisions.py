"""What the stages decide for a mail, as plain data, for a service to carry out.

The pipeline only reads: a stage that finds work to write leaves a decision on the
context (``InboundContext.filing``) and the caller's filing service
(aliasdesk.services.filing) writes it in the caller's transaction. So the pipeline runs
without a database for ``rules explain``, and each decision can be tested on its own.

Where a mail goes as a request or a reply is decided in the pure domain
(aliasdesk.domain.filing); what a delivery report proves needs the parsed report from
aliasdesk.mail, so that decision is declared here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from aliasdesk.domain.filing import AddToTicket, OpenTickets
from aliasdesk.mail.delivery_report import DeliveryReport, RecipientStatus

__all__ = ["BounceMatch", "ConfirmedFailure", "Decision", "RecordReport"]


@dataclass(frozen=True, slots=True)
class ConfirmedFailure:
    """A delivery the report names by Message-ID and by the address it was sent to."""

    delivery_id: int
    status: RecipientStatus


@dataclass(frozen=True, slots=True)
class BounceMatch:
    """What the bounce stage found: confirmed deliveries, and tickets the report only
    points at (by tag, reply address or a Message-ID sent to someone else)."""

    confirmed: tuple[ConfirmedFailure, ...]
    unconfirmed_ticket_ids: tuple[int, ...]
    how: str

    @property
    def is_empty(self) -> bool:
        return not (self.confirmed or self.unconfirmed_ticket_ids)


@dataclass(frozen=True, slots=True)
class RecordReport:
    """A delivery report about mail aliasdesk sent: record it where ``match`` says."""

    report: DeliveryReport
    match: BounceMatch
    at: datetime


Decision = AddToTicket | OpenTickets | RecordReport
"""Everything a stage may leave for the filing service."""
