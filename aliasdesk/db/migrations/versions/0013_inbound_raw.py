"""the raw mail in a table of its own

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 03:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # An inbound row is stored, then updated with its outcome; an update that changes a
    # record's length makes SQLite rewrite the whole record, the mail's bytes included.
    # In a table of their own the bytes are written once (models.InboundRaw).
    op.create_table(
        "inbound_raw",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["id"], ["inbound_mail.id"], name=op.f("fk_inbound_raw_id_inbound_mail")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbound_raw")),
    )
    op.execute("INSERT INTO inbound_raw (id, raw) SELECT id, raw FROM inbound_mail")
    # Both SQLite (3.35 and newer) and PostgreSQL drop a column in place. A rebuilt
    # inbound_mail (what a batch operation does on SQLite) would be a dropped table that
    # the new one's foreign key points at.
    op.execute("ALTER TABLE inbound_mail DROP COLUMN raw")


def downgrade() -> None:
    with op.batch_alter_table("inbound_mail", schema=None) as batch_op:
        batch_op.add_column(sa.Column("raw", sa.LargeBinary(), nullable=True))
    op.execute(
        "UPDATE inbound_mail SET raw = (SELECT raw FROM inbound_raw"
        " WHERE inbound_raw.id = inbound_mail.id)"
    )
    op.drop_table("inbound_raw")
