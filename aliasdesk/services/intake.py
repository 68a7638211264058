"""Taking mail in: raw bytes are committed first, then each mail is processed in one
transaction, and only then may the caller flag it on IMAP (STYLE.md, the crash story).

An unexpected error quarantines that one mail with its traceback; a database outage
propagates so the caller backs off and the mail stays ``received`` for the next run.

A fetch batch is processed in one transaction. Its rows are written through the row buffer
of the session's unit of work (aliasdesk.db.unit_of_work), a statement per table per batch,
which is what makes a backlog fast; a failing mail therefore costs the batch one more run,
in which each mail has its own savepoint, so that the failing one is rolled back alone
(see :func:`process_batch`).
"""

from __future__ import annotations

import json
import logging
import traceback
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from aliasdesk.db.bulk import table_of
from aliasdesk.db.models import InboundMail, MessageKey
from aliasdesk.db.session import Database
from aliasdesk.db.unit_of_work import work_of
from aliasdesk.domain.organisation import RoutingConfig
from aliasdesk.inbound.context import InboundContext, PipelineSettings
from aliasdesk.inbound.pipeline import run_pipeline
from aliasdesk.inbound.stages.dedupe import dedupe_key, earlier_mail, prefetch
from aliasdesk.mail.model import ParsedMail
from aliasdesk.mail.parse import parse_mail
from aliasdesk.services.filing import file_mail
from aliasdesk.services.intake_rows import (
    FINAL_STATES,
    IntakeResult,
    Stored,
    load_rows,
    parsed_ahead,
)
from aliasdesk.services.intake_store import RawMail, content_hash, cut_batches, store_raw
from aliasdesk.services.notifications import inbound_cause, preload_notifications

__all__ = [
    "FINAL_STATES",
    "IntakeResult",
    "ParseAhead",
    "RawMail",
    "content_hash",
    "parsed_ahead",
    "pending_ids",
    "process_batch",
    "process_pending",
    "store_raw",
]

log = logging.getLogger("aliasdesk.intake")
ParseAhead = Callable[[Database, Sequence[int], PipelineSettings], dict[int, ParsedMail]]
"""Parses a batch's mails before its write transaction (by inbound id); a mail it leaves
out is parsed in the transaction. By default ``parsed_ahead`` reads them from the
database; a caller that has parsed them already (aliasdesk import's helper process)
supplies its own."""
BATCH = 100
STATE_OF = {
    "new_ticket": "processed",
    "update_ticket": "processed",
    "ignored": "ignored",
    "quarantined": "quarantined",
    "duplicate": "duplicate",
}
_INBOUND = table_of(InboundMail)
_KEYS = table_of(MessageKey)


def _process_alone(
    db: Database, inbound_id: int, config: RoutingConfig, settings: PipelineSettings
) -> IntakeResult:
    """The last resort of a batch: one stored mail in a transaction of its own, where an
    unexpected error quarantines it with its traceback; never raises on bad mail."""
    try:
        with db.unit_of_work() as session:
            rows = load_rows(session, [inbound_id])
            assert rows, f"inbound mail {inbound_id} vanished"
            if rows[0].state in FINAL_STATES:
                return rows[0].result()
            return _run(session, rows[0], config, settings, {})[0]
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
    session: Session,
    mail: Stored,
    config: RoutingConfig,
    settings: PipelineSettings,
    known_keys: dict[str, int | None],
    parsed: ParsedMail | None = None,
) -> tuple[IntakeResult, str | None]:
    """The pipeline for one mail (``parsed`` already, if it was read ahead); returns its
    result and the dedupe key it now holds."""
    if mail.header_only:
        return _hold(session, mail), None
    if not mail.send_mail:
        settings = replace(settings, send_mail=False)
    ctx = InboundContext(
        raw=mail.raw,
        config=config,
        settings=settings,
        session=session,
        inbound_id=mail.id,
        now=datetime.now(UTC),
        known_keys=known_keys,
        parsed=parsed,
    )
    # Old mail imported with --no-mail changes tickets but must not mail anyone.
    work = work_of(session)
    work.send_mail = settings.send_mail
    try:
        run_pipeline(ctx)
        if ctx.filing is not None:
            file_mail(ctx, ctx.filing)
    finally:
        work.send_mail = True
    if ctx.dedupe_key is None:
        _dedupe_late(session, ctx, mail.raw)
    outcome = ctx.outcome or "quarantined"
    values = _final_values(outcome, ctx.reason, ctx.trace, ctx.ticket_refs)
    values.update(_header_values(ctx.parsed), attempts=mail.attempts + 1)
    values.update(duplicate_of=ctx.duplicate_of)
    buffer = work_of(session).rows
    buffer.update(_INBOUND, mail.id, values)
    key = None
    if outcome != "duplicate":
        key = ctx.dedupe_key or dedupe_key(values["message_id"], mail.raw)
        buffer.insert(_KEYS, {"key": key, "inbound_id": mail.id})
    return IntakeResult(mail.id, outcome, tuple(ctx.ticket_refs), ctx.reason), key


def _hold(session: Session, mail: Stored) -> IntakeResult:
    """A mail too large to take in, quarantined on its header alone with the reason the
    intake stored. It holds no dedupe key: it was never read, and a copy of it that fits
    (the limit raised, another route in) must still be processed."""
    reason = mail.reason or "too large"
    values = _final_values("quarantined", reason, [f"intake: {reason}"], [])
    values.update(_header_values(parse_mail(mail.raw)), attempts=mail.attempts + 1)
    work_of(session).rows.update(_INBOUND, mail.id, values)
    return IntakeResult(mail.id, "quarantined", (), reason)


def _header_values(parsed: ParsedMail | None) -> dict[str, Any]:
    """What the inbound log shows of a mail: its Message-ID, sender and subject."""
    return {
        "message_id": parsed.message_id[:998] if parsed and parsed.message_id else None,
        "from_address": parsed.from_.address[:320] if parsed and parsed.from_ else None,
        "subject": parsed.subject if parsed else None,
    }


def _dedupe_late(session: Session, ctx: InboundContext, raw: bytes) -> None:
    """Mail the parse stage settled (empty mail) never met the dedupe stage; a repeat of
    it must still be logged as a duplicate, not fail on the unique key."""
    message_id = ctx.parsed.message_id if ctx.parsed else None
    key = dedupe_key(message_id, raw)
    ctx.dedupe_key = key
    earlier = earlier_mail(session, ctx.known_keys, key)
    if earlier is not None and earlier != ctx.inbound_id:
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
        rows = load_rows(session, [inbound_id], lock=False)
        assert rows, f"inbound mail {inbound_id} vanished"
        if rows[0].state in FINAL_STATES:
            # Another process settled this very row first (its key is the one we hit):
            # its outcome stands, overwriting it would hide the ticket it opened.
            return rows[0].result()
        key = dedupe_key(parse_mail(rows[0].raw).message_id, rows[0].raw)
        earlier = earlier_mail(session, {}, key)
    if earlier is not None and earlier != inbound_id:
        reason = f"same message as mail #{earlier} (processed concurrently)"
        return _settle_alone(db, inbound_id, "duplicate", reason, duplicate_of=earlier)
    log.error("event=internal_error inbound_id=%s unique key conflict", inbound_id)
    return _settle_alone(db, inbound_id, "quarantined", "internal-error", error=error)


def _final_values(
    outcome: str, reason: str, trace: Sequence[str], refs: Sequence[str]
) -> dict[str, Any]:
    return {
        "outcome": outcome,
        "state": STATE_OF[outcome],
        "reason": reason,
        "trace": json.dumps(list(trace)),
        "ticket_refs": json.dumps(list(refs)),
        "processed_at": datetime.now(UTC),
    }


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
        for name, value in _final_values(outcome, reason, [f"pipeline: {reason}"], []).items():
            setattr(row, name, value)
        row.attempts += 1
        row.error = error
        row.duplicate_of = duplicate_of
        return IntakeResult(row.id, outcome, (), reason)


def pending_ids(db: Database, limit: int = 1000, max_bytes: int | None = None) -> list[int]:
    """The oldest mails still ``received``: at most ``limit``, and as many as fit in
    ``max_bytes`` together (at least one), since a batch is loaded into memory whole."""
    with db.reader() as session:
        rows = session.execute(
            select(InboundMail.id, InboundMail.size)
            .where(InboundMail.state == "received")
            .order_by(InboundMail.id)
            .limit(limit)
        ).all()
    if max_bytes is None or not rows:
        return [row_id for row_id, _ in rows]
    first = next(cut_batches([size for _, size in rows], count=limit, budget=max_bytes))
    return [row_id for row_id, _ in rows[first]]


def process_pending(
    db: Database,
    config_source: Callable[[], RoutingConfig],
    settings: PipelineSettings,
    ahead: ParseAhead | None = None,
) -> list[IntakeResult]:
    """Process every stored mail still ``received`` (new ones and a crash's leftovers)."""
    results: list[IntakeResult] = []
    while ids := pending_ids(db, limit=BATCH, max_bytes=settings.max_mail_bytes):
        results.extend(process_batch(db, ids, config_source(), settings, ahead))
    return results


def process_batch(
    db: Database,
    ids: Sequence[int],
    config: RoutingConfig,
    settings: PipelineSettings,
    ahead: ParseAhead | None = None,
) -> list[IntakeResult]:
    """Process a fetch batch in one transaction: one commit per batch, not one per mail.

    The batch first runs without savepoints, its rows buffered and written a statement per
    table. Should any mail fail, or the buffered rows fail to write (a unique-key race with
    another gateway, say), that transaction is rolled back whole and the batch runs again
    with a savepoint per mail: the failing mail is rolled back alone and then processed on
    its own by :func:`_process_alone`, which quarantines it with the traceback or settles
    the race; the others commit together. A database outage aborts the batch and leaves
    every mail ``received`` for the next run.
    """
    try:
        return _process_together(db, ids, config, settings, ahead)
    except OperationalError:
        raise
    except Exception as exc:
        log.warning(
            "event=batch_retry first=%s count=%s error=%s: once more, a savepoint per mail",
            min(ids, default=None),
            len(ids),
            type(exc).__name__,
        )
    return _process_one_by_one(db, ids, config, settings)


def _load_with_keys(
    session: Session, ids: Sequence[int]
) -> tuple[list[Stored], dict[str, int | None]]:
    """The batch's inbound rows, and the dedupe keys already stored for those still to run.

    What each of those has made aliasdesk send already (nothing, unless it is taken in
    again) is read for all of them at once, instead of once for every relay or thanks a
    reply queues."""
    mails = load_rows(session, ids)
    waiting = [mail for mail in mails if mail.state not in FINAL_STATES]
    causes = [inbound_cause(mail.id, None) for mail in waiting]
    preload_notifications(session, causes=causes, recipients=(), now=datetime.now(UTC))
    return mails, prefetch(session, (mail.raw for mail in waiting))


def _process_together(
    db: Database,
    ids: Sequence[int],
    config: RoutingConfig,
    settings: PipelineSettings,
    parse_ahead: ParseAhead | None = None,
) -> list[IntakeResult]:
    results: list[IntakeResult] = []
    parsed = (parse_ahead or parsed_ahead)(db, ids, settings)
    with db.unit_of_work() as session:
        mails, keys = _load_with_keys(session, ids)
        mails.reverse()
        while mails:  # popped, so each mail's bytes are let go before the commit writes rows
            mail = mails.pop()
            ahead = parsed.pop(mail.id, None)
            results.append(_settle(session, mail, config, settings, keys, ahead))
    return results


def _settle(
    session: Session,
    mail: Stored,
    config: RoutingConfig,
    settings: PipelineSettings,
    keys: dict[str, int | None],
    parsed: ParsedMail | None = None,
) -> IntakeResult:
    """One mail of a batch processed together; the batch learns the dedupe key it holds."""
    if mail.state in FINAL_STATES:
        return mail.result()
    result, key = _run(session, mail, config, settings, keys, parsed)
    if key is not None:
        keys[key] = mail.id
    return result


def _process_one_by_one(
    db: Database, ids: Sequence[int], config: RoutingConfig, settings: PipelineSettings
) -> list[IntakeResult]:
    results: list[IntakeResult] = []
    retry_alone: list[int] = []
    with db.unit_of_work() as session:
        buffer = work_of(session).rows
        mails, keys = _load_with_keys(session, ids)
        for mail in mails:
            if mail.state in FINAL_STATES:
                results.append(mail.result())
                continue
            try:
                with session.begin_nested():
                    result, key = _run(session, mail, config, settings, keys)
                    buffer.flush()  # this mail's rows, inside its own savepoint
            except OperationalError:
                raise
            except Exception:
                retry_alone.append(mail.id)
                continue
            results.append(result)
            if key is not None:
                keys[key] = mail.id
    for inbound_id in retry_alone:
        results.append(_process_alone(db, inbound_id, config, settings))
    return results
