"""change_log (committed changes for other processes on a SQLite file),
replicas (dispatchers judged by their liveness lock on PostgreSQL) and an index
of the streams an operator started and has not ended (the status view)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "change_log",
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("origin", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("ref_id", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_change_log_at", "change_log", ["at"], unique=False)
    op.create_table(
        "replicas",
        sa.Column("owner", sa.String(length=128), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("owner"),
    )

    open_streams = sa.text("actual_start IS NOT NULL AND actual_end IS NULL")
    op.create_index(
        "ix_events_open_streams",
        "events",
        ["actual_start"],
        unique=False,
        sqlite_where=open_streams,
        postgresql_where=open_streams,
    )


def downgrade() -> None:
    op.drop_index("ix_events_open_streams", table_name="events")
    op.drop_table("replicas")
    op.drop_index("ix_change_log_at", table_name="change_log")
    op.drop_table("change_log")
