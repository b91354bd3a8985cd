"""Alembic environment: migrations run on a connection handed in by ``Database.upgrade``."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import scheduler.models  # noqa: F401  (registers the tables)

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `broadcast-scheduler db upgrade`")

context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
