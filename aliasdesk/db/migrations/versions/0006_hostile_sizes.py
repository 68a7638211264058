"""hostile sizes and files at rest

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 04:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Mail over ALIASDESK_MAX_MAIL_BYTES is stored as its header alone, with the size the
    # server reports; that size may pass 2 GiB, so it no longer fits a 32-bit column.
    with op.batch_alter_table("inbound_mail", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("header_only", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.alter_column(
            "size", existing_type=sa.Integer(), type_=sa.BigInteger(), existing_nullable=False
        )
    _breaker_upgrade()


def _breaker_upgrade() -> None:
    """The outside-mail breaker: its episodes, and the index its minute count reads."""
    op.create_table(
        "breaker_trips",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_held_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("holds", sa.Integer(), nullable=False),
        sa.Column("per_minute", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_breaker_trips")),
    )
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_deliveries_claimed_at"), ["claimed_at"], unique=False)


def _breaker_downgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deliveries_claimed_at"))
    op.drop_table("breaker_trips")


def downgrade() -> None:
    _breaker_downgrade()
    with op.batch_alter_table("inbound_mail", schema=None) as batch_op:
        batch_op.alter_column(
            "size", existing_type=sa.BigInteger(), type_=sa.Integer(), existing_nullable=False
        )
        batch_op.drop_column("header_only")
