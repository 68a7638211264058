"""SLA truth and causal order

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06 04:30:00

- ``tickets.sla_paused_at``: when the SLA clock stopped (the ticket went ``pending``);
  the due times move on by the time spent paused when it starts again.
- ``sla_timers.outcome``: what firing a timer did (``warned``, ``escalated``, or why
  nothing was due any more), so only real breaches are counted.
- ``ix_deliveries_ticket_recipient``: finds a recipient's earlier unsent mail about the
  same ticket, which a delivery waits for (causal send order).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sla_paused_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("sla_timers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("outcome", sa.String(length=16), nullable=True))
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_deliveries_ticket_recipient", ["ticket_id", "recipient"], unique=False
        )
    # Tickets already waiting on their requester stop their clock from now on.
    op.execute(
        sa.text("UPDATE tickets SET sla_paused_at = CURRENT_TIMESTAMP WHERE status = 'pending'")
    )


def downgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_deliveries_ticket_recipient")
    with op.batch_alter_table("sla_timers", schema=None) as batch_op:
        batch_op.drop_column("outcome")
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.drop_column("sla_paused_at")
