"""The gateway process: the IMAP poller feeding the intake, and the relay that hands
committed outbox jobs to the workers (or runs them in-process on the embedded broker)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from aliasdesk.runtime import Runtime
from aliasdesk.services import gateway_state
from aliasdesk.services.intake import RawMail, process_pending, store_raw
from aliasdesk.services.intake_store import too_large
from gateway.imap import FetchedMail, ImapConfig, ImapError, ImapMailbox

log = logging.getLogger("aliasdesk.gateway")


def imap_config(runtime: Runtime) -> ImapConfig:
    s = runtime.settings
    if not s.imap_host:
        raise RuntimeError("ALIASDESK_IMAP_HOST is not set: no mailbox to read")
    return ImapConfig(
        host=s.imap_host,
        port=s.imap_port,
        username=s.imap_username or "",
        password=s.imap_password or "",
        security=s.imap_security,  # type: ignore[arg-type]  # validated by load_settings
        folder=s.imap_folder,
        processed_folder=s.imap_processed_folder,
        token_provider=runtime.token_provider if s.imap_auth == "oauth2" else None,
    )


@dataclass
class Intake:
    """The poller's batch handler: store raw bytes, process, report what is committed."""

    runtime: Runtime
    send_mail: bool = True
    counts: dict[str, int] = field(default_factory=dict)
    after_processing: Callable[[], None] | None = None
    """Told when mail was processed: the relay's wake-up, so jobs do not wait for its poll."""

    def __call__(self, mailbox: str, uidvalidity: int, mails: list[FetchedMail]) -> list[int]:
        stored = store_raw(
            self.runtime.db,
            source="imap",
            mailbox=mailbox,
            uidvalidity=uidvalidity,
            mails=[self._raw_mail(m) for m in mails],
            send_mail=self.send_mail,
        )
        # The bytes are in the database now, and processing reads them from there: the
        # fetched copies would only double the batch in memory (the batch is ours now).
        mails.clear()
        results = process_pending(
            self.runtime.db, self.runtime.routing.current, self.runtime.pipeline_settings
        )
        if results and self.after_processing is not None:
            self.after_processing()
        for result in results:
            self.counts[result.outcome] = self.counts.get(result.outcome, 0) + 1
            log.info(
                "event=mail inbound=%s outcome=%s tickets=%s",
                result.inbound_id,
                result.outcome,
                ",".join(result.ticket_refs),
            )
        return [uid for uid in stored if uid is not None]

    def _raw_mail(self, mail: FetchedMail) -> RawMail:
        if mail.held_size is None:
            return RawMail(mail.raw, mail.uid)
        limit = self.runtime.settings.max_mail_bytes
        reason = too_large(mail.held_size, limit, "the mailbox")
        return RawMail(mail.raw, mail.uid, held_size=mail.held_size, reason=reason)


class StateReports:
    """What this gateway tells ``aliasdesk status``: the routing file version in force
    and whether the mailbox takes its login (aliasdesk.services.gateway_state)."""

    def __init__(self, runtime: Runtime, config: ImapConfig) -> None:
        self.runtime = runtime
        self.where = f"{config.username}@{config.host}:{config.port}"

    def watch_routing(self) -> None:
        holder = self.runtime.routing
        holder.on_loaded = self.routing_loaded
        self.routing_loaded(holder.digest)

    def routing_loaded(self, digest: str) -> None:
        # Absolute: status may run from another working directory.
        value = gateway_state.routing_value(self.runtime.routing.path.resolve(), digest)
        gateway_state.record(self.runtime.db, gateway_state.ROUTING, value)

    def connected(self, mailbox: ImapMailbox) -> None:
        wait = "IDLE" if mailbox.has_idle() else "polling"
        value = f"logged in to {self.where}, waiting with {wait}"
        gateway_state.record(self.runtime.db, gateway_state.MAILBOX, value)

    def failed(self, error: BaseException) -> None:
        """Only the mailbox's own failures; a handler failure is the database's story."""
        if isinstance(error, ImapError):
            problem = f"{self.where}: {error}"
            gateway_state.record(self.runtime.db, gateway_state.MAILBOX, "failing", problem)
