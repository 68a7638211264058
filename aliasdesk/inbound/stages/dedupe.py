"""Stage 2: the same message is never processed twice (CONTRACT §5).

The key is the Message-ID, or, when there is none, the SHA-256 of the bytes below the
trace headers that servers write on top of a mail as they hand it on (``Received``,
``Return-Path``, ``Delivered-To``…): the same mail taken from a mailbox and over LMTP
carries different ones, and is still one mail. The unique
``message_keys`` row is written in the processing transaction, so two gateways racing on one
mailbox cannot both win: the loser's commit fails and is logged as a duplicate.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from aliasdesk.db.bulk import table_of
from aliasdesk.db.models import MessageKey
from aliasdesk.inbound.context import InboundContext
from aliasdesk.mail.addresses import parse_message_id

NAME = "dedupe"
_KEYS = table_of(MessageKey)
_MESSAGE_ID_LINE = re.compile(rb"^message-id:[ \t]*([^\r\n]*)", re.IGNORECASE | re.MULTILINE)
# Header fields a server prepends when it receives or stores a mail (RFC 5321 §4.4, RFC
# 9228, RFC 8601, RFC 8617), never the sender: a copy's own, not part of the mail.
_TRACE_FIELD = re.compile(
    rb"(?:received|return-path|delivered-to|x-original-to|x-delivered-to|envelope-to"
    rb"|x-envelope-to|received-spf|authentication-results|arc-[a-z-]+)[ \t]*:",
    re.IGNORECASE,
)


def dedupe_key(message_id: str | None, raw: bytes) -> str:
    if message_id:
        return "mid:" + message_id[:900]
    return "sha256:" + hashlib.sha256(raw[_trace_end(raw) :]).hexdigest()


def _trace_end(raw: bytes) -> int:
    """Where the trace header fields on top of ``raw`` end (0 when it starts with none).

    Only the leading run counts: a trace field below the sender's own fields is part of
    the mail as sent (a forwarded header block, say). Folded lines belong to their field.
    A mail of nothing but trace fields is keyed by all of it.
    """
    position = 0
    while position < len(raw):
        if raw[position : position + 1] in (b" ", b"\t"):
            if position == 0:
                return 0
        elif not _TRACE_FIELD.match(raw, position):
            return position
        line_end = raw.find(b"\n", position)
        if line_end < 0:
            break
        position = line_end + 1
    return 0


def likely_key(raw: bytes) -> str | None:
    """The key the parsed mail will most likely have, read from the raw header block; None
    when there is no plain Message-ID line. Only a hint for :func:`prefetch`: a wrong guess
    costs one query later, never a wrong answer."""
    end = raw.find(b"\n\n")
    crlf_end = raw.find(b"\r\n\r\n")
    if crlf_end >= 0 and (end < 0 or crlf_end < end):
        end = crlf_end
    match = _MESSAGE_ID_LINE.search(raw, 0, end if end >= 0 else len(raw))
    if match is None:
        return None
    message_id = parse_message_id(match.group(1).decode("ascii", "replace"))
    return dedupe_key(message_id, raw) if message_id else None


def prefetch(session: Session, raws: Iterable[bytes]) -> dict[str, int | None]:
    """Look up a batch's likely keys in one query instead of one per mail.

    Returns every key asked about: the inbound id holding it, or None where none does.
    """
    wanted = {key for key in map(likely_key, raws) if key is not None}
    if not wanted:
        return {}
    statement = select(_KEYS.c.key, _KEYS.c.inbound_id).where(_KEYS.c.key.in_(wanted))
    found: dict[str, int | None] = dict.fromkeys(wanted)
    for key, inbound_id in session.connection().execute(statement):
        found[key] = inbound_id
    return found


def earlier_mail(session: Session, known: Mapping[str, int | None], key: str) -> int | None:
    """The inbound id that already holds ``key``: from what the batch knows, else the
    database.

    ``known`` holds this batch's prefetched keys and the keys of the mails it settled,
    whose rows may still be waiting in the session's buffer. The database is asked on the
    session's connection, past the ORM, so those pending rows are not written out first
    (an ORM query would): none of them can hold a key that ``known`` lacks.
    """
    if key in known:
        return known[key]
    statement = select(_KEYS.c.inbound_id).where(_KEYS.c.key == key)
    found: int | None = session.connection().scalar(statement)
    return found


def run(ctx: InboundContext) -> None:
    key = dedupe_key(ctx.mail.message_id, ctx.raw)
    ctx.dedupe_key = key
    if ctx.session is None:
        ctx.note(NAME, f"key {key} (not checked: no database)")
        return
    earlier = earlier_mail(ctx.session, ctx.known_keys, key)
    if earlier is not None and earlier != ctx.inbound_id:
        ctx.duplicate_of = earlier
        ctx.note(NAME, f"key {key} already processed as mail #{earlier}")
        if ctx.dry_run:
            # ``rules explain`` on a mail already taken in: the admin still wants to see
            # how it is routed, so the dry run goes on and explain reports the duplicate.
            ctx.note(NAME, "dry run: going on to show how it would be routed if new")
            return
        ctx.finish("duplicate", f"same message as mail #{earlier}")
        return
    ctx.note(NAME, f"key {key} is new")
