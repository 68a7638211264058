"""Prometheus metrics on ``127.0.0.1:ALIASDESK_METRICS_PORT/metrics``, read from the database.

Every number comes from the database at scrape time, not from in-process counters: the
gateway and the workers are separate processes (possibly several of each), and only the
database sees all of them, so any one process can answer for the whole installation and a
restart loses nothing. The text exposition format (version 0.0.4) is small enough to write
by hand, which spares a dependency.

The server listens on loopback only: the numbers name no person, but a helpdesk's volume
is nobody else's business; put a scraper or a reverse proxy beside it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from aliasdesk.db.models import Delivery, InboundMail, Job, Ticket
from aliasdesk.db.session import Database

log = logging.getLogger("aliasdesk.metrics")

LOOPBACK = "127.0.0.1"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
TICKET_STATUSES = ("new", "open", "pending", "resolved", "closed")
MAIL_OUTCOMES = ("new_ticket", "update_ticket", "ignored", "quarantined", "duplicate")
"""Always exported, zero or not: a series that appears only once it is non-zero breaks
alerts written as ``rate(...)`` or ``== 0``."""


class _Family:
    """One metric: its help text, type and samples, rendered in exposition format."""

    def __init__(self, name: str, kind: str, help_text: str) -> None:
        self.name = name
        self.kind = kind
        self.help_text = help_text
        self.samples: list[tuple[dict[str, str], float]] = []

    def add(self, value: float, **labels: str) -> _Family:
        self.samples.append((labels, value))
        return self

    def render(self) -> str:
        lines = [f"# HELP {self.name} {self.help_text}", f"# TYPE {self.name} {self.kind}"]
        for labels, value in self.samples:
            shown = ",".join(f'{key}="{_escape(text)}"' for key, text in labels.items())
            lines.append(
                f"{self.name}{{{shown}}} {_number(value)}"
                if shown
                else f"{self.name} {_number(value)}"
            )
        return "\n".join(lines) + "\n"


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _grouped(session: Session, column: Any) -> dict[str, int]:
    rows = session.execute(select(column, func.count()).group_by(column)).all()
    return {str(key): int(count) for key, count in rows if key is not None}


def _count(session: Session, *conditions: Any, model: Any) -> int:
    return int(session.scalar(select(func.count()).select_from(model).where(*conditions)) or 0)


def collect(db: Database) -> list[_Family]:
    """Read every metric in one short read-only transaction."""
    with db.reader() as session:
        outcomes = _grouped(session, InboundMail.outcome)
        statuses = _grouped(session, Ticket.status)
        deliveries = _grouped(session, Delivery.state)
        received = _count(session, model=InboundMail)
        quarantined = _count(session, InboundMail.state == "quarantined", model=InboundMail)
        unprocessed = _count(session, InboundMail.state == "received", model=InboundMail)
        waiting = _count(session, Job.state != "done", model=Job)
        last_fetch: datetime | None = session.scalar(
            select(func.max(InboundMail.received_at)).where(InboundMail.source == "imap")
        )
    mail = _Family(
        "aliasdesk_mail_by_outcome",
        "gauge",
        "Mail taken in (fetched or imported), by what became of it; a retried quarantined "
        "mail moves to its new outcome",
    )
    for outcome in sorted({*MAIL_OUTCOMES, *outcomes}):
        mail.add(outcomes.get(outcome, 0), outcome=outcome)
    tickets = _Family("aliasdesk_tickets", "gauge", "Tickets by status")
    for status in sorted({*TICKET_STATUSES, *statuses}):
        tickets.add(statuses.get(status, 0), status=status)
    sent = _Family("aliasdesk_deliveries", "gauge", "Outgoing mails by delivery state")
    for state in sorted({"pending", "sending", "sent", "failed", *deliveries}):
        sent.add(deliveries.get(state, 0), state=state)
    return [
        _Family("aliasdesk_mail_received_total", "counter", "Mail taken in").add(received),
        mail,
        _Family(
            "aliasdesk_mail_unprocessed", "gauge", "Mail stored but not yet through the pipeline"
        ).add(unprocessed),
        _Family("aliasdesk_quarantine_size", "gauge", "Mail waiting in quarantine").add(
            quarantined
        ),
        _Family("aliasdesk_jobs_waiting", "gauge", "Outbox jobs not yet done").add(waiting),
        _Family(
            "aliasdesk_deliveries_failed", "gauge", "Outgoing mails the server refused for good"
        ).add(deliveries.get("failed", 0)),
        sent,
        tickets,
        _Family(
            "aliasdesk_last_fetch_timestamp_seconds",
            "gauge",
            "When the newest mail was fetched from IMAP (Unix time; 0: never)",
        ).add(last_fetch.timestamp() if last_fetch else 0),
    ]


def render(db: Database) -> str:
    """The whole scrape; a database outage is reported as ``aliasdesk_database_up 0``."""
    families: Iterable[_Family]
    try:
        families = collect(db)
        up = 1
    except SQLAlchemyError as error:
        log.warning("event=metrics_database_error error=%s", type(error).__name__)
        families, up = [], 0
    health = _Family("aliasdesk_database_up", "gauge", "Whether the database answered")
    return "".join(family.render() for family in [health.add(up), *families])


def start_metrics_server(db: Database, port: int) -> Callable[[], None]:
    """Serve ``/metrics`` on 127.0.0.1:``port`` in a daemon thread; returns ``stop()``.

    Raises OSError at once when the port is taken, so a misconfiguration stops start-up
    instead of leaving a process that silently exports nothing.
    """

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?", 1)[0] != "/metrics":
                self._answer(404, "text/plain; charset=utf-8", "see /metrics\n")
                return
            self._answer(200, CONTENT_TYPE, render(db))

        def _answer(self, status: int, content_type: str, text: str) -> None:
            body = text.encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # a scrape every 15 s is not news

    server = ThreadingHTTPServer((LOOPBACK, port), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="metrics", daemon=True)
    thread.start()
    log.info("event=metrics_listening address=%s:%s", LOOPBACK, server.server_address[1])

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return stop
