"""Stage 2: the same message is never processed twice (CONTRACT §5).

The key is the Message-ID, or the SHA-256 of the bytes when there is none. The unique
``message_keys`` row is written in the processing transaction, so two gateways racing on one
mailbox cannot both win: the loser's commit fails and is logged as a duplicate.
"""

from __future__ import annotations

import hashlib

from sqlalchemy import select

from aliasdesk.db.models import MessageKey
from aliasdesk.inbound.context import InboundContext

NAME = "dedupe"


def dedupe_key(message_id: str | None, raw: bytes) -> str:
    if message_id:
        return "mid:" + message_id[:900]
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def run(ctx: InboundContext) -> None:
    key = dedupe_key(ctx.mail.message_id, ctx.raw)
    ctx.dedupe_key = key
    if ctx.session is None:
        ctx.note(NAME, f"key {key} (not checked: no database)")
        return
    earlier = ctx.session.scalar(select(MessageKey.inbound_id).where(MessageKey.key == key))
    if earlier is not None and earlier != ctx.inbound_id:
        ctx.duplicate_of = earlier
        ctx.note(NAME, f"key {key} already processed as mail #{earlier}")
        ctx.finish("duplicate", f"same message as mail #{earlier}")
        return
    ctx.note(NAME, f"key {key} is new")
