"""Running outbox jobs. Every job is idempotent: it checks its own row (and the row it
works on) first, because a broker may deliver a job twice (FIELD-NOTES, Dramatiq)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from aliasdesk.db.models import Job, Ticket
from aliasdesk.db.session import Database
from aliasdesk.db.unit_of_work import work_of
from aliasdesk.domain.organisation import RoutingConfig
from aliasdesk.notify.render import TemplateRenderer
from aliasdesk.services.assignment import assign_new_ticket, reserve_turns_for
from aliasdesk.services.delivery import MailSender
from aliasdesk.services.delivery_batch import deliver_many
from aliasdesk.services.delivery_groups import delivery_groups
from aliasdesk.services.languages import detect_ahead, preload_requester_languages
from aliasdesk.services.notifications import preload_notifications
from aliasdesk.services.rendering import preload_first_texts

log = logging.getLogger("aliasdesk.jobs")


def _department(tickets: dict[int, Ticket], job: Job) -> str:
    ticket = tickets.get(job.ticket_id) if job.ticket_id is not None else None
    return ticket.department if ticket is not None else ""


@dataclass
class JobRunner:
    """What a job needs from the outside world, gathered once per process."""

    db: Database
    config_source: Callable[[], RoutingConfig]
    renderer: TemplateRenderer
    sender: MailSender
    instance_id: str = "aliasdesk"
    known_languages: Mapping[int, str | None] = field(default_factory=dict)
    """Texts already classified (``aliasdesk import``'s helper process), by text key."""

    def run(self, job_id: int) -> str:
        """One job: a batch of one. Returns what it did, for the log and the tests."""
        return self.run_many([job_id])[job_id]

    def run_many(self, job_ids: Sequence[int]) -> dict[int, str]:
        """Run a batch of jobs with a handful of transactions instead of several per job.

        New tickets are assigned in one transaction (a savepoint each); deliveries are
        claimed together, sent over the reused connection and recorded together.
        Returns what became of each job.
        """
        with self.db.reader() as session:
            rows = session.execute(
                select(Job.id, Job.kind, Job.delivery_id, Job.state).where(
                    Job.id.in_(list(job_ids))
                )
            ).all()
        details = dict.fromkeys(job_ids, "missing")
        created: list[int] = []
        deliveries: dict[int, int] = {}
        for job_id, kind, delivery_id, state in rows:
            if state == "done":
                details[job_id] = "done already"
            elif kind == "ticket_created":
                created.append(job_id)
            elif kind == "deliver" and delivery_id:
                deliveries[delivery_id] = job_id
            else:
                what = "no delivery" if kind == "deliver" else f"unknown job kind {kind}"
                details[job_id] = self._finish(job_id, what)
        if created:
            details.update(self._tickets_created(created))
        if deliveries:
            with self.db.reader() as session:
                groups = delivery_groups(session, list(deliveries))
            for group in groups:  # the files a group carries fit a budget (delivery_groups)
                for delivery_id, state in self._deliver_many(group).items():
                    details[deliveries[delivery_id]] = state
        return details

    def _tickets_created(self, job_ids: list[int]) -> dict[int, str]:
        try:
            return self._tickets_created_together(job_ids)
        except OperationalError:
            # A deadlock with another worker's batch (PostgreSQL picks one to abort): the
            # batch rolled back whole; each job is taken on its own, in short transactions.
            log.warning("event=assign_batch_retried_alone jobs=%d", len(job_ids))
            return self._tickets_created_alone(job_ids)
        except Exception:
            # One bad ticket rolled the batch back: each job on its own, so it cannot hold
            # the others back (its own failure is logged and it comes back after the lease).
            log.exception("event=assign_batch_failed jobs=%d", len(job_ids))
            return self._tickets_created_alone(job_ids)

    def _tickets_created_alone(self, job_ids: list[int]) -> dict[int, str]:
        """The batch's last resort: each job in its own transaction."""
        details: dict[int, str] = {}
        for job_id in job_ids:
            try:
                details[job_id] = self._ticket_created(job_id)
            except Exception:
                log.exception("event=assign_failed job=%s", job_id)
                details[job_id] = "failed (retried after the lease)"
        return details

    def _tickets_created_together(self, job_ids: list[int]) -> dict[int, str]:
        """The whole batch in one transaction and one flush: jobs and tickets loaded in two
        queries, what exists of their mail in two more, then everything written at once."""
        now = datetime.now(UTC)
        config = self.config_source()
        detected = self._languages_ahead(job_ids)
        with self.db.unit_of_work() as session:
            work_of(session).known.detected_languages.update(detected)
            jobs = session.scalars(
                select(Job)
                .where(Job.id.in_(job_ids), Job.state != "done")
                .order_by(Job.id)
                .with_for_update()
            ).all()
            wanted = [job.ticket_id for job in jobs if job.ticket_id is not None]
            tickets = {
                ticket.id: ticket
                for ticket in session.scalars(select(Ticket).where(Ticket.id.in_(wanted)))
            }
            # Round-robin cursors (SQLite) are row-locked as tickets are assigned; taking
            # them in one order (by department) keeps two batches from deadlocking.
            jobs = sorted(jobs, key=lambda job: (_department(tickets, job), job.id))
            reserve_turns_for(
                session, [tickets[j.ticket_id] for j in jobs if j.ticket_id in tickets], config
            )
            preload_notifications(
                session,
                causes=[f"ticket:{ticket_id}:created" for ticket_id in tickets],
                recipients=[ticket.requester for ticket in tickets.values()],
                now=now,
            )
            choosing = [t for t in tickets.values() if t.language is None]
            preload_requester_languages(session, [t.requester for t in choosing])
            preload_first_texts(session, [t.id for t in choosing])
            details: dict[int, str] = {}
            with session.no_autoflush:
                for job in jobs:
                    ticket = tickets.get(job.ticket_id) if job.ticket_id else None
                    details[job.id] = self._assign_loaded(session, job, ticket, config, now)
        return details

    def _languages_ahead(self, job_ids: list[int]) -> dict[int, str | None]:
        """The languages the batch's new tickets are written in, detected before its write
        transaction begins (see ``detect_ahead``)."""
        with self.db.reader() as session:
            tickets = session.scalars(
                select(Ticket)
                .join(Job, Job.ticket_id == Ticket.id)
                .where(Job.id.in_(job_ids), Job.state != "done", Ticket.language.is_(None))
            ).all()
            preload_first_texts(session, [ticket.id for ticket in tickets])
            return detect_ahead(session, tickets, self.known_languages)

    def _assign(self, session: Session, job_id: int, config: RoutingConfig, now: datetime) -> str:
        """Assign the job's ticket and finish the job, in the caller's transaction."""
        job = session.get(Job, job_id, with_for_update=True)
        if job is None:
            return "done already"
        ticket = session.get(Ticket, job.ticket_id) if job.ticket_id else None
        return self._assign_loaded(session, job, ticket, config, now)

    def _assign_loaded(
        self,
        session: Session,
        job: Job,
        ticket: Ticket | None,
        config: RoutingConfig,
        now: datetime,
    ) -> str:
        if job.state == "done":
            return "done already"
        detail = "ticket missing"
        if ticket is not None:
            payload = json.loads(job.payload or "{}")
            detail = assign_new_ticket(
                session,
                ticket,
                config,
                now,
                send_mail=bool(payload.get("send_mail", True)),
                acknowledge=bool(payload.get("acknowledge", True)),
            )
        job.state, job.done_at = "done", now
        return detail

    def _deliver_many(self, delivery_ids: list[int]) -> dict[int, str]:
        outcomes = deliver_many(
            self.db,
            delivery_ids,
            self.sender,
            self.config_source(),
            self.renderer,
            self.instance_id,
        )
        # Sent and failed deliveries finish their jobs in the same transaction; this catches
        # a job whose delivery another worker settled (one statement per batch).
        settled = [d for d, outcome in outcomes.items() if outcome.state in {"sent", "failed"}]
        if settled:
            with self.db.unit_of_work() as session:
                session.execute(
                    update(Job)
                    .where(Job.delivery_id.in_(settled), Job.state != "done")
                    .values(state="done", done_at=datetime.now(UTC))
                )
        return {delivery_id: outcome.state for delivery_id, outcome in outcomes.items()}

    def _ticket_created(self, job_id: int) -> str:
        with self.db.unit_of_work() as session:
            detail = self._assign(session, job_id, self.config_source(), datetime.now(UTC))
        log.info("event=ticket_created job=%s %s", job_id, detail)
        return detail

    def _finish(self, job_id: int, detail: str) -> str:
        with self.db.unit_of_work() as session:
            job = session.get(Job, job_id)
            if job is not None and job.state != "done":
                job.state, job.done_at, job.last_error = "done", datetime.now(UTC), None
        return detail
