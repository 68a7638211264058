"""The first step of the intake: the raw bytes of a fetched batch, committed as ``received``.

One entry in the inbound log per mail, whatever happens: a mail already stored at the same
(mailbox, UIDVALIDITY, UID) is not stored again, and one whose mailbox changed UIDVALIDITY
is found by its bytes and its location updated.

The batch is written with one multi-row INSERT that skips locations already taken
(``ON CONFLICT DO NOTHING``, SQLite and PostgreSQL alike): a second gateway on the same
mailbox that stored a UID a moment ago simply wins, and its row is used. This replaced an
insert and a savepoint per mail, which cost more than everything else of storing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from aliasdesk.db.bulk import table_of
from aliasdesk.db.models import InboundMail, InboundRaw
from aliasdesk.db.session import Database

_INBOUND = table_of(InboundMail)
_RAW = table_of(InboundRaw)
_LOCATION = ("mailbox", "uidvalidity", "uid")


HEADER_LIMIT = 256 * 1024
"""How much of a held mail's header is kept: From, Subject and Message-ID sit near the top,
and a hostile mail without a blank line would otherwise be all header."""


@dataclass(frozen=True)
class RawMail:
    """One mail as fetched: where it came from and its bytes."""

    raw: bytes
    uid: int | None = None
    held_size: int | None = None
    """Set for mail over ALIASDESK_MAX_MAIL_BYTES: ``raw`` is then its header alone, stored
    so that the quarantine can show it, and this is the size of the whole mail."""
    reason: str = ""
    """Why a held mail was not taken in (its size and the limit): the quarantine's reason."""
    digest: str | None = None
    """The whole mail's content hash when it is known but ``raw`` is only its header."""


def content_digest(raw: bytes) -> bytes:
    """The SHA-256 of a mail's bytes: kept as bytes, half the size of ``content_hash``,
    where one is held for every mail of an archive (aliasdesk import)."""
    return hashlib.sha256(raw).digest()


def content_hash(raw: bytes) -> str:
    """The digest as stored (``inbound_mail.content_hash``): ``content_digest`` in hex."""
    return content_digest(raw).hex()


DIGEST_BYTES = len(content_digest(b""))


def too_large(size: int, limit: int, left_in: str) -> str:
    """The quarantine reason of a mail that is held back for its size."""
    return (
        f"too large: {size:,} bytes, over the limit of {limit:,} bytes "
        f"(ALIASDESK_MAX_MAIL_BYTES); not taken in, left in {left_in}"
    )


def header_of(raw: bytes, limit: int = HEADER_LIMIT) -> bytes:
    """The header block of a mail (up to its first blank line), at most ``limit`` bytes."""
    ends = [
        end for end in (raw.find(b"\r\n\r\n", 0, limit), raw.find(b"\n\n", 0, limit)) if end >= 0
    ]
    return raw[: min(ends) + 2] if ends else raw[:limit]


def cut_batches(sizes: Sequence[int], *, count: int, budget: int) -> Iterator[slice]:
    """Consecutive slices of at most ``count`` mails whose sizes add up to at most ``budget``.

    A mail larger than the budget gets a slice of its own: a batch is never empty, so a
    backlog always moves, and memory is bounded by the budget or the one largest mail.
    """
    start = total = 0
    for index, size in enumerate(sizes):
        if index > start and (index - start >= count or total + size > budget):
            yield slice(start, index)
            start, total = index, 0
        total += size
    if start < len(sizes):
        yield slice(start, len(sizes))


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

    A held mail (over the size limit) is stored as its header, flagged ``header_only``; if
    the whole of it arrives later (the limit was raised), it replaces the header.
    """
    digests = [mail.digest or content_hash(mail.raw) for mail in mails]
    with db.unit_of_work() as session:
        known, held, movable = _already_stored(session, mailbox, uidvalidity, mails, digests)
        stored: dict[int | None, int] = dict(known)
        fresh: list[dict[str, Any]] = []
        raws: dict[tuple[int | None, str], bytes] = {}
        now = datetime.now(UTC)
        for mail, digest in zip(mails, digests, strict=True):
            if mail.uid is not None and mail.uid in known:
                if mail.uid in held and mail.held_size is None:
                    _take_whole(session, known[mail.uid], mail.raw, digest)
                continue
            if mail.uid is not None and digest in movable:
                moved = _relocate(session, mailbox, uidvalidity, mail.uid, digest)
                if moved is not None:
                    stored[mail.uid] = moved
                    continue
            raws[(mail.uid, digest)] = mail.raw
            fresh.append(
                {
                    "source": source,
                    "mailbox": mailbox,
                    "uidvalidity": uidvalidity,
                    "uid": mail.uid,
                    "size": len(mail.raw) if mail.held_size is None else mail.held_size,
                    "header_only": mail.held_size is not None,
                    "reason": mail.reason or None,
                    "content_hash": digest,
                    "state": "received",
                    "send_mail": send_mail,
                    "attempts": 0,
                    "received_at": now,
                }
            )
        if fresh:
            stored.update(_insert_fresh(session, mailbox, uidvalidity, fresh, raws))
    return stored


def _already_stored(
    session: Session,
    mailbox: str,
    uidvalidity: int | None,
    mails: Sequence[RawMail],
    digests: Sequence[str],
) -> tuple[dict[int | None, int], set[int], set[str]]:
    """One query each for the whole batch: UIDs stored before (a re-fetch after a crash),
    those of them stored as a header only, and bytes stored under another UIDVALIDITY (the
    mailbox was renumbered)."""
    uids = [mail.uid for mail in mails if mail.uid is not None]
    if not uids:
        return {}, set(), set()
    c = _INBOUND.c
    connection = session.connection()
    known: dict[int | None, int] = {}
    held: set[int] = set()
    for uid, row_id, header_only in connection.execute(
        select(c.uid, c.id, c.header_only).where(
            c.mailbox == mailbox, c.uidvalidity == uidvalidity, c.uid.in_(uids)
        )
    ):
        known[uid] = row_id
        if header_only:
            held.add(uid)
    movable = set(
        connection.scalars(
            select(c.content_hash).where(
                c.mailbox == mailbox,
                c.content_hash.in_(list(digests)),
                c.uidvalidity != uidvalidity,
            )
        )
    )
    return known, held, movable


def _take_whole(session: Session, row_id: int, raw: bytes, digest: str) -> None:
    """A held mail fetched whole at last (the limit was raised): its header gives way to
    the mail, which is then processed like any other."""
    connection = session.connection()
    taken = connection.execute(
        update(_INBOUND)
        .where(_INBOUND.c.id == row_id, _INBOUND.c.header_only.is_(True))
        .values(
            size=len(raw),
            content_hash=digest,
            header_only=False,
            state="received",
            outcome=None,
            reason=None,
            processed_at=None,
        )
    )
    if taken.rowcount:
        connection.execute(update(_RAW).where(_RAW.c.id == row_id).values(raw=raw))


def _relocate(
    session: Session, mailbox: str, uidvalidity: int | None, uid: int, digest: str
) -> int | None:
    """Point a mail stored under an older UIDVALIDITY at its new location; its id, or None.

    Rare (a renumbered mailbox), so it keeps its own savepoint: a second gateway that
    relocated or stored the same mail first leaves the location taken, and its row is used.
    """
    c = _INBOUND.c
    try:
        with session.begin_nested():
            connection = session.connection()
            moved = connection.scalar(
                select(c.id)
                .where(c.mailbox == mailbox, c.content_hash == digest, c.uidvalidity != uidvalidity)
                .limit(1)
            )
            if moved is not None:
                connection.execute(
                    update(_INBOUND).where(c.id == moved).values(uidvalidity=uidvalidity, uid=uid)
                )
            return moved
    except IntegrityError:
        return _stored_at(session, mailbox, uidvalidity, [uid]).get(uid)


def _insert_fresh(
    session: Session,
    mailbox: str,
    uidvalidity: int | None,
    rows: list[dict[str, Any]],
    raws: dict[tuple[int | None, str], bytes],
) -> dict[int | None, int]:
    """Insert the batch in one statement, then the bytes of the rows it stored in one
    more; locations another gateway took are looked up (their bytes are its own).

    The bytes are found by (uid, digest): a mailbox's UIDs are unique in a batch, and
    mails without one (imported, delivered over LMTP) that share a digest share their
    bytes, so whichever row gets which copy, each gets its own mail's bytes."""
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = (
        insert(_INBOUND)
        .on_conflict_do_nothing(index_elements=list(_LOCATION))
        .returning(_INBOUND.c.uid, _INBOUND.c.id, _INBOUND.c.content_hash)
    )
    connection = session.connection()
    stored: dict[int | None, int] = {}
    raw_rows: list[dict[str, Any]] = []
    for uid, row_id, digest in connection.execute(statement, rows):
        stored[uid] = row_id
        raw_rows.append({"id": row_id, "raw": raws[(uid, digest)]})
    if raw_rows:
        connection.execute(_RAW.insert(), raw_rows)
    taken = [row["uid"] for row in rows if row["uid"] is not None and row["uid"] not in stored]
    if taken:
        found = _stored_at(session, mailbox, uidvalidity, taken)
        missing = set(taken) - found.keys()
        if missing:
            raise RuntimeError(
                f"inbound mail at uids {sorted(missing)[:10]} neither stored nor found"
            )
        stored.update(found)
    return stored


def _stored_at(
    session: Session, mailbox: str, uidvalidity: int | None, uids: Sequence[int]
) -> dict[int | None, int]:
    c = _INBOUND.c
    rows = session.connection().execute(
        select(c.uid, c.id).where(
            c.mailbox == mailbox, c.uidvalidity == uidvalidity, c.uid.in_(list(uids))
        )
    )
    return {uid: row_id for uid, row_id in rows}
