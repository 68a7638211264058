"""The request's files in the owner's assignment mail: attached up to a total size, else
named with their size, and never attached when they are active content.

The owner should not have to open the ticket elsewhere to see the screenshot or form the
requester sent; but a mail of tens of megabytes bounces or clogs inboxes, and a script or
macro document from an unknown sender must not arrive as a one-click attachment.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from aliasdesk.db.models import StoredAttachment, TicketMessage
from aliasdesk.db.unit_of_work import work_of
from aliasdesk.mail.active_content import is_active
from aliasdesk.notify.kinds import RequestFile

OWNER_FILES_LIMIT = 10 * 1024 * 1024
"""Total bytes attached to one assignment mail; files past it are named, not attached."""
SIGNATURE_IMAGE = 16 * 1024
"""Inline images below this are logos and icons of a signature, not part of the request."""

LEFT_OUT_ACTIVE = "not attached: it could run code when opened"
LEFT_OUT_KEPT = "not attached: too large to keep"
LEFT_OUT_LIMIT = "not attached: the mail would be too large"

FileAttachment = tuple[str, str, bytes]
_COLUMNS = (
    StoredAttachment.id,
    StoredAttachment.filename,
    StoredAttachment.content_type,
    StoredAttachment.size,
    StoredAttachment.inline,
    StoredAttachment.data.is_(None),
)

_FILES_OF_FIRST_MESSAGES = (
    select(TicketMessage.ticket_id, *_COLUMNS)
    .join(TicketMessage, TicketMessage.id == StoredAttachment.message_id)
    .where(
        StoredAttachment.message_id.in_(
            select(func.min(TicketMessage.id))
            .where(TicketMessage.ticket_id.in_(bindparam("ids", expanding=True)))
            .group_by(TicketMessage.ticket_id)
        )
    )
    .order_by(StoredAttachment.id)
)
"""Built once: building it anew for every batch cost more than running it."""


def preload_request_files(session: Session, ticket_ids: Iterable[int]) -> None:
    """Names and sizes of the files of every ticket a batch renders, in one query instead
    of two per assignment mail; kept for the transaction (a rollback forgets them)."""
    cache = work_of(session).known.request_file_rows
    wanted = [ticket_id for ticket_id in set(ticket_ids) if ticket_id not in cache]
    if not wanted:
        return
    rows = session.execute(_FILES_OF_FIRST_MESSAGES, {"ids": wanted})
    found: dict[int, list[tuple[object, ...]]] = {}
    for ticket_id, *columns in rows:
        found.setdefault(ticket_id, []).append(tuple(columns))
    for ticket_id in wanted:
        cache[ticket_id] = tuple(found.get(ticket_id, ()))


def request_files(
    session: Session, ticket_id: int, limit: int | None = None
) -> tuple[tuple[int, RequestFile], ...]:
    """Every file of the request as the mail lists it, with its row id, in the order
    received. Reads names and sizes only: the contents are loaded by :func:`attached_files`
    for the files that go along, once, when the mail is rendered."""
    budget = OWNER_FILES_LIMIT if limit is None else limit
    preload_request_files(session, [ticket_id])
    listed: list[tuple[int, RequestFile]] = []
    for row_id, name, content_type, size, inline, missing in work_of(
        session
    ).known.request_file_rows[ticket_id]:
        if inline and content_type.lower().startswith("image/") and size < SIGNATURE_IMAGE:
            continue
        left_out = _left_out(name, content_type, size, missing, budget)
        budget -= 0 if left_out else size
        listed.append((row_id, RequestFile(name, size, left_out)))
    return tuple(listed)


def listed_files(session: Session, ticket_id: int) -> tuple[RequestFile, ...]:
    """The files as the assignment mail names them."""
    return tuple(file for _, file in request_files(session, ticket_id))


def attached_files(session: Session, ticket_id: int) -> list[FileAttachment]:
    """The files that go along with the assignment mail, contents included."""
    wanted = [row_id for row_id, file in request_files(session, ticket_id) if not file.left_out]
    if not wanted:
        return []
    rows = session.execute(
        select(StoredAttachment.filename, StoredAttachment.content_type, StoredAttachment.data)
        .where(StoredAttachment.id.in_(wanted))
        .order_by(StoredAttachment.id)
    )
    return [(name, content_type, data) for name, content_type, data in rows if data is not None]


def _left_out(name: str, content_type: str, size: int, missing: bool, budget: int) -> str:
    """Why this file is only named ("" when it goes along)."""
    if is_active(name, content_type):
        return LEFT_OUT_ACTIVE
    if missing:
        return LEFT_OUT_KEPT
    if size > budget:
        return LEFT_OUT_LIMIT
    return ""
