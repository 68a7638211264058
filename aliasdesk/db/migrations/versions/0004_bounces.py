"""delivery reports on their tickets

No schema change: a report is kept as an internal ticket message and event, a failure in
``deliveries.state``/``last_error`` (prefixed ``bounced:``), the owner's notice as a
delivery of its own kind. The slot stays in the chain so the revisions keep their numbers.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06 04:30:00
"""

from collections.abc import Sequence

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
