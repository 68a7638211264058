"""tickets handed on by #merge and #move; anonymised tickets

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 07:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The ticket a merged or moved ticket's conversation went to: mail that still names the
    # old ticket (its tag, a reply to its mail, its reply address) is filed there.
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("merged_into_id", sa.Integer(), nullable=True))
        # When retention or an erasure removed the ticket's personal data.
        batch_op.add_column(sa.Column("anonymised_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.drop_column("anonymised_at")
        batch_op.drop_column("merged_into_id")
