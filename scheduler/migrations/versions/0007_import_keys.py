"""import_source and import_key on events and series: an imported event or series is found again
by the file's UID (+ RECURRENCE-ID), so importing the same file twice changes
nothing

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("events", "series"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("import_source", sa.String(length=64), nullable=True))
            batch.add_column(sa.Column("import_key", sa.String(length=40), nullable=True))
            batch.create_index(f"ux_{table}_import", ["import_source", "import_key"], unique=True)


def downgrade() -> None:
    for table in ("series", "events"):
        with op.batch_alter_table(table) as batch:
            batch.drop_index(f"ux_{table}_import")
            batch.drop_column("import_key")
            batch.drop_column("import_source")
