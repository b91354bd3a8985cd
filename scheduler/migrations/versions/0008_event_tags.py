"""events.tags and series.tags: short lower-case labels that lists and feeds filter by

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("events", "series"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("tags", sa.JSON(), nullable=False, server_default="[]"))


def downgrade() -> None:
    for table in ("series", "events"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("tags")
