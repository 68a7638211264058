"""Taking mail in: raw bytes are committed first, then each mail is processed in one
transaction, and only then may the caller flag it on IMAP (STYLE.md, the crash story).

An unexpected error quarantines that one mail with its traceback; a database outage
propagates so the caller backs off and the mail stays ``received`` for the next run.
"""

from __future__ import annotations

import hashlib
import json
import logging
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from aliasdesk.db.models import InboundMail, MessageKey
from aliasdesk.db.session import Database
from aliasdesk.domain.organisation import RoutingConfig
from aliasdesk.inbound.context import InboundContext, PipelineSettings
from aliasdesk.inbound.pipeline import run_pipeline
from aliasdesk.inbound.stages.dedupe import dedupe_key
from aliasdesk.mail.parse import parse_mail

log = logging.getLogger("aliasdesk.intake")
FINAL_STATES = ("processed", "ignored", "quarantined", "duplicate")
BATCH = 100


@dataclass(frozen=True)
class RawMail:
    """One mail as fetched: where it came from and its bytes."""

    raw: bytes
    uid: int | None = None


@dataclass(frozen=True)
class IntakeResult:
    inbound_id: int
    outcome: str
    ticket_refs: tuple[str, ...]
    reason: str


def content_hash(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def store_raw(
    db: Database,
    *,
    source: str,
    mailbox: str,
    uidvalidity: int | None,
    mails: Sequence[RawMail],
    send_mail: bool = True,
) -> dict[int | None, int]:
    """Commit the raw bytes of a batch (state ``received``); returns uid -> inbound id.

    A mail already stored at the same (mailbox, UIDVALIDITY, UID) is not stored again; one
    whose mailbox changed UIDVALIDITY is found by its bytes and its location updated, so
    the inbound log keeps one entry per mail.
    """
    stored: dict[int | None, int] = {}
    digests = {id(mail): content_hash(mail.raw) for mail in mails}
    with db.unit_of_work() as session:
        known, movable = _already_stored(session, mailbox, uidvalidity, mails, digests)
        for mail in mails:
            if mail.uid is not None and mail.uid in known:
                stored[mail.uid] = known[mail.uid]
                continue
            digest = digests[id(mail)]
            try:
                with session.begin_nested():
                    stored[mail.uid] = _store_one(
                        session,
                        source,
                        mailbox,
                        uidvalidity,
                        mail,
                        send_mail,
                        digest,
                        may_have_moved=digest in movable,
                    )
            except IntegrityError:
                # Another gateway on the same mailbox stored this UID a moment ago.
                existing = session.scalar(
                    select(InboundMail.id).where(
                        InboundMail.mailbox == mailbox,
                        InboundMail.uidvalidity == uidvalidity,
                        InboundMail.uid == mail.uid,
                    )
                )
                if existing is None:
                    raise
                stored[mail.uid] = existing
    return stored


def _already_stored(
    session: Session,
    mailbox: str,
    uidvalidity: int | None,
    mails: Sequence[RawMail],
    digests: dict[int, str],
) -> tuple[dict[int, int], set[str]]:
    """One query each for the whole batch: UIDs stored before (a re-fetch after a crash),
    and bytes stored under another UIDVALIDITY (the mailbox was renumbered)."""
    uids = [mail.uid for mail in mails if mail.uid is not None]
    if not uids:
        return {}, set()
    known = {
        uid: row_id
        for uid, row_id in session.execute(
            select(InboundMail.uid, InboundMail.id).where(
                InboundMail.mailbox == mailbox,
                InboundMail.uidvalidity == uidvalidity,
                InboundMail.uid.in_(uids),
            )
        ).all()
        if uid is not None
    }
    movable = set(
        session.scalars(
            select(InboundMail.content_hash).where(
                InboundMail.mailbox == mailbox,
                InboundMail.content_hash.in_(list(digests.values())),
                InboundMail.uidvalidity != uidvalidity,
            )
        )
    )
    return known, movable


def _store_one(
    session: Session,
    source: str,
    mailbox: str,
    uidvalidity: int | None,
    mail: RawMail,
    send_mail: bool,
    digest: str,
    *,
    may_have_moved: bool,
) -> int:
    if mail.uid is not None and may_have_moved:
        moved = session.scalar(
            select(InboundMail)
            .where(
                InboundMail.mailbox == mailbox,
                InboundMail.content_hash == digest,
                InboundMail.uidvalidity != uidvalidity,
            )
            .limit(1)
        )
        if moved is not None:
            moved.uidvalidity, moved.uid = uidvalidity, mail.uid
            return moved.id
    row = InboundMail(
        source=source,
        mailbox=mailbox,
        uidvalidity=uidvalidity,
        uid=mail.uid,
        raw=mail.raw,
        size=len(mail.raw),
        content_hash=digest,
        state="received",
        send_mail=send_mail,
        received_at=datetime.now(UTC),
    )
    session.add(row)
    session.flush()
    return row.id


def process_inbound(
    db: Database, inbound_id: int, config: RoutingConfig, settings: PipelineSettings
) -> IntakeResult:
    """Run the pipeline for one stored mail in one transaction; never raises on bad mail."""
    try:
        with db.unit_of_work() as session:
            # Locked: a second gateway on the same mailbox finds the row already pending
            # (process_pending takes every ``received`` row, not only its own) and must
            # wait for this transaction, then see the final state, instead of running the
            # pipeline on it again (SQLite serialises writers anyway; no-op there).
            row = session.get(InboundMail, inbound_id, with_for_update=True)
            assert row is not None, f"inbound mail {inbound_id} vanished"
            if row.state in FINAL_STATES:
                return _result(row)
            return _run(session, row, config, settings)
    except IntegrityError:
        return _after_conflict(db, inbound_id, traceback.format_exc())
    except OperationalError:
        raise
    except Exception:
        log.exception("event=internal_error inbound_id=%s", inbound_id)
        return _settle_alone(
            db, inbound_id, "quarantined", "internal-error", error=traceback.format_exc()
        )


def _run(
    session: Session, row: InboundMail, config: RoutingConfig, settings: PipelineSettings
) -> IntakeResult:
    if not row.send_mail:
        settings = PipelineSettings(**{**settings.__dict__, "send_mail": False})
    ctx = InboundContext(
        raw=row.raw,
        config=config,
        settings=settings,
        session=session,
        inbound_id=row.id,
        now=datetime.now(UTC),
    )
    # Old mail imported with --no-mail changes tickets but must not mail anyone.
    session.info["send_mail"] = settings.send_mail
    try:
        run_pipeline(ctx)
    finally:
        session.info.pop("send_mail", None)
    if ctx.dedupe_key is None:
        _dedupe_late(session, ctx, row)
    mail = ctx.parsed
    row.message_id = mail.message_id[:998] if mail and mail.message_id else None
    row.from_address = mail.from_.address[:320] if mail and mail.from_ else None
    row.subject = mail.subject if mail else None
    _finish_row(row, ctx.outcome or "quarantined", ctx.reason, ctx.trace, ctx.ticket_refs)
    row.duplicate_of = ctx.duplicate_of
    if ctx.outcome != "duplicate":
        key = ctx.dedupe_key or dedupe_key(row.message_id, row.raw)
        session.add(MessageKey(key=key, inbound_id=row.id))
        session.flush()
    return _result(row)


def _dedupe_late(session: Session, ctx: InboundContext, row: InboundMail) -> None:
    """Mail the parse stage settled (empty mail) never met the dedupe stage; a repeat of
    it must still be logged as a duplicate, not fail on the unique key."""
    message_id = ctx.parsed.message_id if ctx.parsed else None
    key = dedupe_key(message_id, row.raw)
    ctx.dedupe_key = key
    earlier = session.scalar(select(MessageKey.inbound_id).where(MessageKey.key == key))
    if earlier is not None and earlier != row.id:
        ctx.duplicate_of = earlier
        ctx.ticket_refs = []
        ctx.finish("duplicate", f"same message as mail #{earlier}")


def _after_conflict(db: Database, inbound_id: int, error: str) -> IntakeResult:
    """The commit failed on a unique key: a duplicate only if the dedupe key is taken.

    Two gateways racing on one mailbox lose this way (the other one committed the key
    first). Any other unique-key failure is our bug, and the mail must not vanish as a
    "duplicate": it is quarantined as an internal error with the traceback.
    """
    with db.reader() as session:
        row = session.get(InboundMail, inbound_id)
        assert row is not None, f"inbound mail {inbound_id} vanished"
        if row.state in FINAL_STATES:
            # Another process settled this very row first (its key is the one we hit):
            # its outcome stands, overwriting it would hide the ticket it opened.
            return _result(row)
        key = dedupe_key(parse_mail(row.raw).message_id, row.raw)
        earlier = session.scalar(select(MessageKey.inbound_id).where(MessageKey.key == key))
    if earlier is not None and earlier != inbound_id:
        reason = f"same message as mail #{earlier} (processed concurrently)"
        return _settle_alone(db, inbound_id, "duplicate", reason, duplicate_of=earlier)
    log.error("event=internal_error inbound_id=%s unique key conflict", inbound_id)
    return _settle_alone(db, inbound_id, "quarantined", "internal-error", error=error)


def _finish_row(
    row: InboundMail, outcome: str, reason: str, trace: Sequence[str], refs: Sequence[str]
) -> None:
    row.outcome = outcome
    row.state = {
        "new_ticket": "processed",
        "update_ticket": "processed",
        "ignored": "ignored",
        "quarantined": "quarantined",
        "duplicate": "duplicate",
    }[outcome]
    row.reason = reason
    row.trace = json.dumps(list(trace))
    row.ticket_refs = json.dumps(list(refs))
    row.processed_at = datetime.now(UTC)
    row.attempts += 1


def _settle_alone(
    db: Database,
    inbound_id: int,
    outcome: str,
    reason: str,
    error: str | None = None,
    duplicate_of: int | None = None,
) -> IntakeResult:
    with db.unit_of_work() as session:
        row = session.get(InboundMail, inbound_id)
        assert row is not None
        _finish_row(row, outcome, reason, [f"pipeline: {reason}"], [])
        row.error = error
        row.duplicate_of = duplicate_of
        return _result(row)


def _result(row: InboundMail) -> IntakeResult:
    refs = tuple(json.loads(row.ticket_refs or "[]"))
    return IntakeResult(row.id, row.outcome or row.state, refs, row.reason or "")


def pending_ids(db: Database, limit: int = 1000) -> list[int]:
    with db.reader() as session:
        return list(
            session.scalars(
                select(InboundMail.id)
                .where(InboundMail.state == "received")
                .order_by(InboundMail.id)
                .limit(limit)
            )
        )


def process_pending(
    db: Database,
    config_source: Callable[[], RoutingConfig],
    settings: PipelineSettings,
) -> list[IntakeResult]:
    """Process every stored mail still ``received`` (new ones and a crash's leftovers)."""
    results: list[IntakeResult] = []
    while ids := pending_ids(db, limit=BATCH):
        results.extend(process_batch(db, ids, config_source(), settings))
    return results


def process_batch(
    db: Database, ids: Sequence[int], config: RoutingConfig, settings: PipelineSettings
) -> list[IntakeResult]:
    """Process a fetch batch in one transaction, each mail inside its own savepoint.

    One commit per batch instead of one per mail. A mail whose savepoint fails is rolled
    back alone and then processed on its own by :func:`process_inbound`, which quarantines
    it with the traceback or settles a unique-key race; the others commit together. A
    database outage aborts the batch and leaves every mail ``received`` for the next run.
    """
    results: list[IntakeResult] = []
    retry_alone: list[int] = []
    with db.unit_of_work() as session:
        rows = session.scalars(
            select(InboundMail)
            .where(InboundMail.id.in_(list(ids)))
            .order_by(InboundMail.id)
            .with_for_update()
        ).all()
        for row in rows:
            if row.state in FINAL_STATES:
                results.append(_result(row))
                continue
            try:
                with session.begin_nested():
                    results.append(_run(session, row, config, settings))
            except OperationalError:
                raise
            except Exception:
                retry_alone.append(row.id)
    for inbound_id in retry_alone:
        results.append(process_inbound(db, inbound_id, config, settings))
    return results
