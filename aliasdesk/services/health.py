"""``aliasdesk status``: what an admin must look at, gathered in one read.

Each part of the helpdesk gives its facts and, where something needs a person, a problem
sentence; ``ok`` is true exactly when there is no problem. Dismissed quarantine and
dismissed failed deliveries are still counted, apart, but are no longer problems.
"""

from __future__ import annotations

import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from aliasdesk.db.models import Delivery, InboundMail, Job, SlaTimer, Ticket
from aliasdesk.db.session import Database
from aliasdesk.services import breaker, gateway_state
from aliasdesk.services.reports import iso
from aliasdesk.services.routing_holder import content_digest
from aliasdesk.services.sla import breached
from aliasdesk.settings.env import Settings, mask_url
from aliasdesk.settings.routing_file import check_routing

STUCK_AFTER_S = 300
"""Mail waiting longer than this with nothing newer taken in: the intake is not running."""


class Health:
    """The status document being built: facts by part, plus the problems found."""

    def __init__(self) -> None:
        self.parts: dict[str, Any] = {}
        self.problems: list[str] = []

    def document(self) -> dict[str, Any]:
        return {"ok": not self.problems, "problems": list(self.problems), **self.parts}


def gather(db: Database, settings: Settings, now: datetime | None = None) -> dict[str, Any]:
    now = now or datetime.now(UTC)
    health = Health()
    facts = gateway_state.read_all(db)
    health.parts["database"] = {"url": mask_url(db.url), "kind": db.engine.dialect.name}
    _mailbox(health, facts.get(gateway_state.MAILBOX))
    _broker(health, settings.broker_url)
    _routing(health, settings.routing_file, facts.get(gateway_state.ROUTING))
    with db.reader() as session:
        _backlog(health, session, now)
        _quarantine(health, session)
        _deliveries(health, session)
        _sla(health, session)
        health.parts["outside_mail"], held = breaker.status(
            session, now, settings.outside_mail_per_minute
        )
    health.problems.extend([held] if held else [])
    return health.document()


def _count(session: Session, model: Any, *where: ColumnElement[bool]) -> int:
    return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def _mailbox(health: Health, fact: gateway_state.StateFact | None) -> None:
    if fact is None:
        health.parts["mailbox"] = {"state": "unknown", "detail": "no gateway has reported yet"}
        return
    health.parts["mailbox"] = {
        "state": "failing" if fact.problem else "ok",
        "detail": fact.problem or fact.value,
        "at": iso(fact.updated_at),
    }
    if fact.problem:
        health.problems.append(f"mailbox: {fact.problem}")


def _broker(health: Health, url: str) -> None:
    if url == "embedded":
        health.parts["broker"] = {"url": "embedded", "reachable": True}
        return
    parts = urlsplit(url)
    default = 5672 if parts.scheme.startswith("amqp") else 6379
    host, port = parts.hostname or "localhost", parts.port or default
    try:
        with socket.create_connection((host, port), timeout=3):
            reachable, detail = True, f"{host}:{port} answers"
    except OSError as error:
        reachable, detail = False, f"{host}:{port}: {error.strerror or error}"
    health.parts["broker"] = {"url": mask_url(url), "reachable": reachable, "detail": detail}
    if not reachable:
        health.problems.append(f"broker {mask_url(url)} cannot be reached ({detail})")


def _routing(health: Health, configured: Path, fact: gateway_state.StateFact | None) -> None:
    in_force, path = gateway_state.parse_routing_value(fact.value) if fact else (None, "")
    file = Path(path) if path else configured
    errors = [str(error) for error in check_routing(file)]
    on_disk = content_digest(file)
    current = None if in_force is None else in_force == on_disk
    health.parts["routing"] = {
        "file": str(file),
        "valid": not errors,
        "errors": errors,
        "in_force_since": iso(fact.updated_at) if fact else None,
        "in_force_is_on_disk": current,
    }
    if errors:
        health.problems.append(f"routing file {file} does not validate: {errors[0]}")
    if current is False:
        health.problems.append(
            f"the gateway runs an earlier version of {file} than the one on disk "
            "(the edit was refused, or the gateway is not running)"
        )


def _backlog(health: Health, session: Session, now: datetime) -> None:
    waiting = _count(session, InboundMail, InboundMail.state == "received")
    jobs = _count(session, Job, Job.state != "done")
    last = session.scalar(select(func.max(InboundMail.received_at)))
    health.parts["backlog"] = {
        "mail_waiting": waiting,
        "jobs_waiting": jobs,
        "last_mail_at": iso(last),
    }
    if waiting and last is not None and (now - last).total_seconds() > STUCK_AFTER_S:
        health.problems.append(f"{waiting} mail waiting to be processed since {iso(last)}")


def _quarantine(health: Health, session: Session) -> None:
    open_count, dismissed = _failures(session, InboundMail, InboundMail.state == "quarantined")
    health.parts["quarantine"] = {"count": open_count, "dismissed": dismissed}
    if open_count:
        health.problems.append(
            f"{open_count} mail in quarantine (aliasdesk quarantine list; retry or dismiss)"
        )


def _deliveries(health: Health, session: Session) -> None:
    open_count, dismissed = _failures(session, Delivery, Delivery.state == "failed")
    health.parts["deliveries"] = {"failed": open_count, "dismissed": dismissed}
    if open_count:
        health.problems.append(
            f"{open_count} failed deliveries (aliasdesk deliveries list --failed; retry or dismiss)"
        )


def _failures(session: Session, model: Any, failed: ColumnElement[bool]) -> tuple[int, int]:
    """Rows in a failed state an admin still has to deal with, and those dismissed."""
    still_open = _count(session, model, failed, model.dismissed_at.is_(None))
    return still_open, _count(session, model, failed, model.dismissed_at.is_not(None))


def _sla(health: Health, session: Session) -> None:
    fired = breached()  # escalated; a breach timer that found its target met is no breach
    unresolved = Ticket.status.not_in(["resolved", "closed"])
    open_breaches = int(
        session.scalar(
            select(func.count())
            .select_from(SlaTimer)
            .join(Ticket, Ticket.id == SlaTimer.ticket_id)
            .where(*fired, unresolved)
        )
        or 0
    )
    health.parts["sla"] = {
        "breaches": _count(session, SlaTimer, *fired),
        "open_breaches": open_breaches,
    }
