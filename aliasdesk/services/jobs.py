"""Running outbox jobs. Every job is idempotent: it checks its own row (and the row it
works on) first, because a broker may deliver a job twice (FIELD-NOTES, Dramatiq)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from aliasdesk.db.models import Job, Ticket
from aliasdesk.db.session import Database
from aliasdesk.domain.organisation import RoutingConfig
from aliasdesk.notify.render import TemplateRenderer
from aliasdesk.services.assignment import assign_new_ticket
from aliasdesk.services.delivery import MailSender, deliver
from aliasdesk.services.delivery_batch import deliver_many

log = logging.getLogger("aliasdesk.jobs")


@dataclass
class JobRunner:
    """What a job needs from the outside world, gathered once per process."""

    db: Database
    config_source: Callable[[], RoutingConfig]
    renderer: TemplateRenderer
    sender: MailSender
    instance_id: str = "aliasdesk"

    def run(self, job_id: int) -> str:
        with self.db.reader() as session:
            job = session.get(Job, job_id)
            if job is None:
                return "missing"
            if job.state == "done":
                return "done already"
            kind = job.kind
        if kind == "ticket_created":
            return self._ticket_created(job_id)
        if kind == "deliver":
            return self._deliver(job_id)
        return self._finish(job_id, f"unknown job kind {kind}")

    def run_many(self, job_ids: Sequence[int]) -> None:
        """Run a batch of jobs with a handful of transactions instead of several per job.

        New tickets are assigned in one transaction (a savepoint each); deliveries are
        claimed together, sent over the reused connection and recorded together.
        """
        with self.db.reader() as session:
            rows = session.execute(
                select(Job.id, Job.kind, Job.delivery_id).where(
                    Job.id.in_(list(job_ids)), Job.state != "done"
                )
            ).all()
        created = [job_id for job_id, kind, _ in rows if kind == "ticket_created"]
        deliveries = {d: job_id for job_id, kind, d in rows if kind == "deliver" and d}
        for job_id, kind, delivery_id in rows:
            if kind not in {"ticket_created", "deliver"} or (kind == "deliver" and not delivery_id):
                self._finish(job_id, f"nothing to do for job kind {kind}")
        if created:
            self._tickets_created(created)
        if deliveries:
            self._deliver_many(list(deliveries))

    def _tickets_created(self, job_ids: list[int]) -> None:
        try:
            self._tickets_created_together(job_ids)
        except OperationalError:
            # A deadlock with another worker's batch (PostgreSQL picks one to abort): the
            # batch rolled back whole; each job is taken on its own, in short transactions.
            log.warning("event=assign_batch_retried_alone jobs=%d", len(job_ids))
            for job_id in job_ids:
                self._ticket_created(job_id)

    def _tickets_created_together(self, job_ids: list[int]) -> None:
        now = datetime.now(UTC)
        config = self.config_source()
        alone: list[int] = []
        with self.db.unit_of_work() as session:
            # Department counters are row-locked as tickets are assigned; taking them in
            # one order (by department) keeps two workers' batches from deadlocking.
            ordered = session.execute(
                select(Job.id)
                .join(Ticket, Ticket.id == Job.ticket_id, isouter=True)
                .where(Job.id.in_(job_ids))
                .order_by(Ticket.department, Job.id)
            ).scalars()
            for job_id in list(ordered):
                try:
                    with session.begin_nested():
                        self._assign(session, job_id, config, now)
                except OperationalError:
                    raise
                except Exception:
                    log.exception("event=assign_failed job=%s", job_id)
                    alone.append(job_id)
        for job_id in alone:  # on its own, so one bad ticket cannot hold the others back
            self._ticket_created(job_id)

    def _assign(self, session: Session, job_id: int, config: RoutingConfig, now: datetime) -> str:
        """Assign the job's ticket and finish the job, in the caller's transaction."""
        job = session.get(Job, job_id, with_for_update=True)
        if job is None or job.state == "done":
            return "done already"
        ticket = session.get(Ticket, job.ticket_id) if job.ticket_id else None
        detail = "ticket missing"
        if ticket is not None:
            payload = json.loads(job.payload or "{}")
            detail = assign_new_ticket(
                session, ticket, config, now, send_mail=bool(payload.get("send_mail", True))
            )
        job.state, job.done_at = "done", now
        return detail

    def _deliver_many(self, delivery_ids: list[int]) -> None:
        outcomes = deliver_many(
            self.db,
            delivery_ids,
            self.sender,
            self.config_source(),
            self.renderer,
            self.instance_id,
        )
        settled = [d for d, outcome in outcomes.items() if outcome.state in {"sent", "failed"}]
        if settled:
            with self.db.unit_of_work() as session:
                session.execute(
                    update(Job)
                    .where(Job.delivery_id.in_(settled), Job.state != "done")
                    .values(state="done", done_at=datetime.now(UTC))
                )

    def _ticket_created(self, job_id: int) -> str:
        with self.db.unit_of_work() as session:
            detail = self._assign(session, job_id, self.config_source(), datetime.now(UTC))
        log.info("event=ticket_created job=%s %s", job_id, detail)
        return detail

    def _deliver(self, job_id: int) -> str:
        with self.db.reader() as session:
            job = session.get(Job, job_id)
            delivery_id = job.delivery_id if job else None
        if delivery_id is None:
            return self._finish(job_id, "no delivery")
        outcome = deliver(
            self.db, delivery_id, self.sender, self.config_source(), self.renderer, self.instance_id
        )
        # "sending": another worker holds it; delivery.not_claimed rescheduled the job.
        if outcome.state in {"sent", "failed"}:
            self._finish(job_id, outcome.state)
        return outcome.state

    def _finish(self, job_id: int, detail: str) -> str:
        with self.db.unit_of_work() as session:
            job = session.get(Job, job_id)
            if job is not None and job.state != "done":
                job.state, job.done_at, job.last_error = "done", datetime.now(UTC), None
        return detail
