"""service figures: business-time figures and targets on tickets

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 08:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FIGURES = ("first_response_s", "resolution_s", "target_first_response_s", "target_resolution_s")


def upgrade() -> None:
    # Tickets resolved before this revision keep the moment they were last resolved; their
    # business-time figures stay unknown (null) rather than guessed. No index on the
    # moments the report filters by: its periods are wide, and SQLite, without statistics,
    # would walk such an index row by row, several times slower than reading the table.
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        for name in _FIGURES:
            batch_op.add_column(sa.Column(name, sa.Integer(), nullable=True))
        for name in ("reopen_count", "sla_paused_s"):
            batch_op.add_column(sa.Column(name, sa.Integer(), server_default="0", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        for name in ("sla_paused_s", "reopen_count", *reversed(_FIGURES)):
            batch_op.drop_column(name)
