"""operations: dismissed deliveries and quarantine

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06 04:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # An admin's "dealt with" mark: the row and its raw mail stay, the count of problems drops.
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("dismissed_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("inbound_mail", schema=None) as batch_op:
        batch_op.add_column(sa.Column("dismissed_at", sa.DateTime(timezone=True), nullable=True))
    # What the running gateway knows and the status command cannot see for itself.
    op.create_table(
        "gateway_state",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("problem", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_gateway_state")),
    )


def downgrade() -> None:
    op.drop_table("gateway_state")
    with op.batch_alter_table("inbound_mail", schema=None) as batch_op:
        batch_op.drop_column("dismissed_at")
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_column("dismissed_at")
