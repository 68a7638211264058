"""Wiring one process from Settings: database, routing rules, templates, mail sender.

Configuration is validated here, before any network call: a bad routing file or setting
stops start-up with file:line:field messages instead of failing on the first mail.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select

from aliasdesk.db import schema
from aliasdesk.db.models import InboundMail
from aliasdesk.db.session import Database
from aliasdesk.inbound.context import PipelineSettings
from aliasdesk.large_blocks import return_large_blocks
from aliasdesk.notify.mailer import SmtpMailer, SyncSmtpMailer
from aliasdesk.notify.render import TemplateRenderer
from aliasdesk.services import breaker, page_links
from aliasdesk.services.digest import DigestRounds
from aliasdesk.services.jobs import JobRunner
from aliasdesk.services.privacy import RetentionSchedule
from aliasdesk.services.routing_holder import RoutingHolder
from aliasdesk.services.weekly_report import ReportRounds
from aliasdesk.settings.env import Settings
from aliasdesk.transport.oauth import TokenProvider, token_provider_from_settings

log = logging.getLogger("aliasdesk.runtime")


@dataclass
class Runtime:
    settings: Settings
    db: Database
    routing: RoutingHolder
    renderer: TemplateRenderer
    token_provider: TokenProvider | None = None
    digests: DigestRounds = field(default_factory=DigestRounds)
    """The morning digests this process has dealt with (the relay queues them)."""
    weekly_reports: ReportRounds = field(default_factory=ReportRounds)
    """The leads' weekly reports this process has dealt with."""
    retention: RetentionSchedule = field(default_factory=RetentionSchedule)
    """When the daily retention run is next due (the relay runs it)."""
    _mailer: SyncSmtpMailer | None = field(default=None, repr=False)

    @property
    def pipeline_settings(self) -> PipelineSettings:
        return PipelineSettings.from_settings(self.settings)

    @property
    def mailer(self) -> SyncSmtpMailer:
        if self._mailer is None:
            s = self.settings
            if not s.smtp_host:
                raise RuntimeError("ALIASDESK_SMTP_HOST is not set: no way to send mail")
            self._mailer = SyncSmtpMailer(
                SmtpMailer(
                    s.smtp_host,
                    s.smtp_port,
                    security=s.smtp_security,  # type: ignore[arg-type]
                    username=s.smtp_username,
                    password=s.smtp_password,
                    token_provider=self.token_provider if s.smtp_auth == "oauth2" else None,
                )
            )
        return self._mailer

    def job_runner(self) -> JobRunner:
        return JobRunner(
            db=self.db,
            config_source=self.routing.current,
            renderer=self.renderer,
            sender=self.mailer,
            instance_id=self.settings.instance_id,
        )

    def known_high_uid(self, mailbox: str, uidvalidity: int) -> int:
        with self.db.reader() as session:
            value = session.scalar(
                select(func.max(InboundMail.uid)).where(
                    InboundMail.mailbox == mailbox, InboundMail.uidvalidity == uidvalidity
                )
            )
        return int(value or 0)

    def close(self) -> None:
        if self._mailer is not None:
            self._mailer.close()
        self.db.dispose()


def build_runtime(
    settings: Settings, *, migrate: bool = True, routing: RoutingHolder | None = None
) -> Runtime:
    """``routing``: a holder the caller made (``run``'s processes share the version in
    force through it); by default one over the configured file."""
    return_large_blocks()  # a large mail's memory is given back once it is stored
    routing = routing or RoutingHolder(Path(settings.routing_file))
    renderer = TemplateRenderer(Path(settings.template_dir))
    db = Database(settings.database_url)
    breaker.set_per_minute(settings.outside_mail_per_minute)
    page_links.configure(settings.web_url, settings.secret_key)
    if migrate:
        schema.upgrade(db)
    log.info("event=start at=%s database=%s", datetime.now(UTC).isoformat(), db.engine.dialect.name)
    return Runtime(
        settings=settings,
        db=db,
        routing=routing,
        renderer=renderer,
        token_provider=token_provider_from_settings(settings),
    )
