"""Deliveries sent together, cut so that the files they carry fit a byte budget.

A batch of deliveries is built in full before any of it is sent (the bytes are committed
with the claim). Most mail is a few kilobytes, but an owner's assignment mail carries the
request's files and a relayed reply its own: a hundred requests of 40 MB each, all due at
once, would otherwise be a hundred such mails in memory together. The files' sizes are
known from their rows without reading them, so the cut is made before anything is built.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from aliasdesk.db.models import Delivery, StoredAttachment, TicketMessage
from aliasdesk.notify.catalogue import all_kinds
from aliasdesk.services.intake_store import cut_batches
from aliasdesk.services.rendering import RELAY_FILES_LIMIT
from aliasdesk.services.request_files import OWNER_FILES_LIMIT

FILES_PER_MAIL = max(OWNER_FILES_LIMIT, RELAY_FILES_LIMIT)
"""The most file bytes one mail carries, whatever its ticket holds."""
GROUP_FILE_BYTES = 32 * 1024 * 1024
"""File bytes built and sent together: a few owners' mails with their files at once."""


def delivery_groups(
    session: Session, delivery_ids: Sequence[int], budget: int = GROUP_FILE_BYTES
) -> list[list[int]]:
    """``delivery_ids`` in their order, cut where the files they may carry pass ``budget``.

    Each mail counts the stored files of its ticket, up to what one mail carries at most:
    an estimate from above, read from the rows' sizes in one query.
    """
    ids = list(delivery_ids)
    carried = _file_bytes(session, ids)
    sizes = [min(carried.get(delivery_id, 0), FILES_PER_MAIL) for delivery_id in ids]
    return [ids[cut] for cut in cut_batches(sizes, count=max(len(ids), 1), budget=budget)]


def _file_bytes(session: Session, ids: list[int]) -> dict[int, int]:
    if not ids:
        return {}
    rows = session.execute(
        select(Delivery.id, func.sum(StoredAttachment.size))
        .join(TicketMessage, TicketMessage.ticket_id == Delivery.ticket_id)
        .join(StoredAttachment, StoredAttachment.message_id == TicketMessage.id)
        .where(
            Delivery.id.in_(ids),
            Delivery.kind.in_(_file_kinds()),
            StoredAttachment.data.is_not(None),
        )
        .group_by(Delivery.id)
    )
    return {delivery_id: int(total or 0) for delivery_id, total in rows}


def _file_kinds() -> list[str]:
    """The kinds of mail that carry files; every other kind is text alone."""
    return [kind.name for kind in all_kinds() if kind.carries_files]
