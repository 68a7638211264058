"""What travels through the inbound pipeline, and what the stages may touch.

Stages read the session and write only the context. The ``persist`` and ``bounce``
stages leave their decision in ``filing`` (aliasdesk.inbound.decisions) and the caller's
filing service (aliasdesk.services.filing) writes it. No stage commits, sends mail or
talks to a broker: the caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy.orm import Session

from aliasdesk.domain.organisation import RoutingConfig
from aliasdesk.domain.routing import RouteDecision
from aliasdesk.inbound.decisions import Decision
from aliasdesk.mail.machine import MachineVerdict
from aliasdesk.mail.model import ParsedMail
from aliasdesk.settings.env import Settings

OUTCOMES = ("new_ticket", "update_ticket", "ignored", "quarantined", "duplicate")


@dataclass(frozen=True)
class PipelineSettings:
    """The settings the stages need, copied out of Settings so stages stay easy to test."""

    max_attachment_bytes: int = 25 * 1024 * 1024
    max_mail_bytes: int = 50 * 1024 * 1024
    instance_id: str = "aliasdesk"
    require_authentication_results: bool = False
    authserv_id: str | None = None
    send_mail: bool = True
    snippet_dir: Path | None = None
    """Where ``#reply NAME`` finds saved answers; None: the shipped ones."""
    template_dir: Path | None = None
    """Where the answers to commands find their words (the mail catalogs); None: shipped."""

    @classmethod
    def from_settings(cls, settings: Settings) -> PipelineSettings:
        """The pipeline's settings as ``run`` has them: the same for ``rules explain``,
        whose answer would otherwise differ from what the live pipeline does (sender
        verification by Authentication-Results, the attachment limit)."""
        return cls(
            max_attachment_bytes=settings.max_attachment_bytes,
            max_mail_bytes=settings.max_mail_bytes,
            instance_id=settings.instance_id,
            require_authentication_results=settings.require_authentication_results,
            authserv_id=settings.authserv_id,
            snippet_dir=settings.snippet_dir,
            template_dir=settings.template_dir,
        )


@dataclass
class ThreadMatch:
    """The ticket a mail belongs to, and how we know."""

    ticket_id: int | None
    ref: str | None
    how: str
    closed: bool = False


@dataclass
class InboundContext:
    raw: bytes
    config: RoutingConfig
    settings: PipelineSettings
    session: Session | None
    inbound_id: int | None = None
    now: datetime | None = None
    dry_run: bool = False
    parsed: ParsedMail | None = None
    dedupe_key: str | None = None
    verdict: MachineVerdict | None = None
    thread: ThreadMatch | None = None
    decision: RouteDecision | None = None
    filing: Decision | None = None
    """What the persist or bounce stage decided, for the caller to carry out (then ``done``)."""
    outcome: str | None = None
    reason: str = ""
    ticket_refs: list[str] = field(default_factory=list)
    duplicate_of: int | None = None
    trace: list[str] = field(default_factory=list)
    held: list[object] = field(default_factory=list)
    """Rows read for this mail and kept alive while it is taken in: the session holds
    unchanged rows weakly, so the stages after the thread stage read a reply's ticket
    again, three more queries a reply."""
    known_keys: Mapping[str, int | None] = field(default_factory=dict)
    """Dedupe keys the batch already knows: looked up for the whole batch at once (None:
    no mail holds it), or held by a mail settled earlier in the batch, whose rows may still
    be waiting in the session's buffer (aliasdesk.db.bulk)."""

    def note(self, stage: str, text: str) -> None:
        self.trace.append(f"{stage}: {text}")

    def finish(self, outcome: str, reason: str) -> None:
        """Settle the outcome; later stages see ``done`` and leave the mail alone."""
        assert outcome in OUTCOMES, outcome
        self.outcome = outcome
        self.reason = reason

    @property
    def done(self) -> bool:
        return self.outcome is not None

    @property
    def mail(self) -> ParsedMail:
        assert self.parsed is not None, "parse stage has not run"
        return self.parsed
