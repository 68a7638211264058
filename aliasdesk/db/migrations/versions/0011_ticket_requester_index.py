"""tickets found by their requester

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 11:10:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A new ticket speaks the language of its requester's latest earlier ticket: without an
    # index that lookup read the whole table once per ticket, and an import of 100,000 mails
    # spent most of its time there. The id orders the requester's tickets, newest first.
    op.create_index("ix_tickets_requester", "tickets", ["requester", "id"])


def downgrade() -> None:
    op.drop_index("ix_tickets_requester", table_name="tickets")
