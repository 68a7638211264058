"""what people noticed: indexes for the lookups every notification makes, watchers' names

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 04:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A ticket's messages and a message's files are looked up for every notification
    # (the quoted request, the files in the owner's assignment mail); without these
    # indexes each lookup reads the whole table, which grows with every mail.
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_messages_ticket_id"), ["ticket_id"], unique=False)
    with op.batch_alter_table("attachments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_attachments_message_id"), ["message_id"], unique=False)
    # A watcher is greeted by the name the request's Cc gave them, not the requester's.
    with op.batch_alter_table("watchers", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("name", sa.String(length=255), server_default="", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("watchers", schema=None) as batch_op:
        batch_op.drop_column("name")
    with op.batch_alter_table("attachments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_attachments_message_id"))
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_messages_ticket_id"))
