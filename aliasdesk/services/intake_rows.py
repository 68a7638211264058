"""The inbound rows as the intake reads them, and what it reads ahead of its write
transaction (services/intake.py processes them)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from aliasdesk.db.bulk import table_of
from aliasdesk.db.models import InboundMail, InboundRaw
from aliasdesk.db.session import Database
from aliasdesk.inbound.context import PipelineSettings
from aliasdesk.mail.model import ParsedMail
from aliasdesk.mail.parse import parse_mail

FINAL_STATES = ("processed", "ignored", "quarantined", "duplicate")
_INBOUND = table_of(InboundMail)
_RAW = table_of(InboundRaw)


@dataclass(frozen=True)
class IntakeResult:
    inbound_id: int
    outcome: str
    ticket_refs: tuple[str, ...]
    reason: str


@dataclass(frozen=True)
class Stored:
    """An inbound row as the processing needs it (read past the ORM: no object to track)."""

    id: int
    raw: bytes
    state: str
    send_mail: bool
    attempts: int
    outcome: str | None
    reason: str | None
    ticket_refs: str | None
    header_only: bool

    def result(self) -> IntakeResult:
        refs = tuple(json.loads(self.ticket_refs or "[]"))
        return IntakeResult(self.id, self.outcome or self.state, refs, self.reason or "")


def load_rows(session: Session, ids: Sequence[int], *, lock: bool = True) -> list[Stored]:
    """The rows, locked for writing: a second gateway on the same mailbox finds them
    pending too (process_pending takes every ``received`` row, not only its own) and must
    wait for this transaction, then see the final state, instead of running the pipeline
    on them again (SQLite serialises writers anyway; no-op there)."""
    c = _INBOUND.c
    statement = (
        select(
            c.id,
            _RAW.c.raw,
            c.state,
            c.send_mail,
            c.attempts,
            c.outcome,
            c.reason,
            c.ticket_refs,
            c.header_only,
        )
        .join(_RAW, _RAW.c.id == c.id)
        .where(c.id.in_(list(ids)))
        .order_by(c.id)
    )
    if lock:
        statement = statement.with_for_update(of=_INBOUND)
    return [Stored(*row) for row in session.connection().execute(statement)]


def parsed_ahead(
    db: Database, ids: Sequence[int], settings: PipelineSettings
) -> dict[int, ParsedMail]:
    """The batch's mails parsed before its write transaction begins. Parsing is the
    costliest stage and reads nothing but the bytes, and the write lock is what every
    process of ``run --processes`` waits for: parsed outside it, the transaction holds
    the lock for a little over half as long. The transaction reads its rows again
    (locked): a mail another process settled meanwhile is skipped there as before."""
    with db.reader() as session:
        mails = load_rows(session, ids, lock=False)
    return {
        mail.id: parse_mail(mail.raw, max_attachment_bytes=settings.max_attachment_bytes)
        for mail in mails
        if mail.state not in FINAL_STATES and not mail.header_only
    }
