"""recurring series: the series and series_pauses tables; events gain the
occurrence columns (series_id, recurrence_id, exception, cancel_reason,
pause_id) and one row per (series_id, recurrence_id)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "series",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("stream_url", sa.String(length=2048), nullable=True),
        sa.Column("location", sa.String(length=500), nullable=True),
        sa.Column("channel", sa.String(length=64), nullable=True),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("start_local", sa.DateTime(timezone=False), nullable=False),
        sa.Column("end_local", sa.DateTime(timezone=False), nullable=False),
        sa.Column("rrule", sa.String(length=500), nullable=False),
        sa.Column("reminders", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("materialized_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_series_materialized_until", "series", ["materialized_until"], unique=False)
    op.create_table(
        "series_pauses",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("series_id", sa.String(length=32), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["series_id"], ["series.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_series_pauses_series_id", "series_pauses", ["series_id"], unique=False)
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("series_id", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("recurrence_id", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("exception", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(sa.Column("cancel_reason", sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column("pause_id", sa.String(length=32), nullable=True))
        batch_op.create_foreign_key(
            "fk_events_series_id", "series", ["series_id"], ["id"], ondelete="CASCADE"
        )
        batch_op.create_unique_constraint(
            "uq_events_series_occurrence", ["series_id", "recurrence_id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_constraint("uq_events_series_occurrence", type_="unique")
        batch_op.drop_constraint("fk_events_series_id", type_="foreignkey")
        batch_op.drop_column("pause_id")
        batch_op.drop_column("cancel_reason")
        batch_op.drop_column("exception")
        batch_op.drop_column("recurrence_id")
        batch_op.drop_column("series_id")
    op.drop_index("ix_series_pauses_series_id", table_name="series_pauses")
    op.drop_table("series_pauses")
    op.drop_index("ix_series_materialized_until", table_name="series")
    op.drop_table("series")
