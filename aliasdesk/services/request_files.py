"""The request's files in the owner's assignment mail: attached up to a total size, else
named with their size, and never attached when they are active content.

The owner should not have to open the ticket elsewhere to see the screenshot or form the
requester sent; but a mail of tens of megabytes bounces or clogs inboxes, and a script or
macro document from an unknown sender must not arrive as a one-click attachment.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from aliasdesk.db.models import StoredAttachment, TicketMessage
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


def request_files(
    session: Session, ticket_id: int, limit: int | None = None
) -> tuple[list[FileAttachment], tuple[RequestFile, ...]]:
    """The files to attach and every file as the mail lists it, in the order received."""
    budget = OWNER_FILES_LIMIT if limit is None else limit
    first_message = (
        select(TicketMessage.id)
        .where(TicketMessage.ticket_id == ticket_id)
        .order_by(TicketMessage.id)
        .limit(1)
        .scalar_subquery()
    )
    rows = session.scalars(
        select(StoredAttachment)
        .where(StoredAttachment.message_id == first_message)
        .order_by(StoredAttachment.id)
    )
    attached: list[FileAttachment] = []
    listed: list[RequestFile] = []
    for row in rows:
        is_image = row.content_type.lower().startswith("image/")
        if row.inline and is_image and row.size < SIGNATURE_IMAGE:
            continue
        left_out = _left_out(row, budget)
        if not left_out and row.data is not None:
            budget -= len(row.data)
            attached.append((row.filename, row.content_type, row.data))
        listed.append(RequestFile(row.filename, row.size, left_out))
    return attached, tuple(listed)


def _left_out(row: StoredAttachment, budget: int) -> str:
    """Why this file is only named ("" when it goes along)."""
    if is_active(row.filename, row.content_type):
        return LEFT_OUT_ACTIVE
    if row.data is None:
        return LEFT_OUT_KEPT
    if len(row.data) > budget:
        return LEFT_OUT_LIMIT
    return ""
