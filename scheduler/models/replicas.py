"""The replicas that announce their liveness with an advisory lock (PostgreSQL)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field as DBField
from sqlmodel import SQLModel

from scheduler.models.columns import utc_column


class ReplicaRecord(SQLModel, table=True):
    """A dispatching replica that holds its liveness lock while it lives. Only
    replicas listed here are judged by their lock: one that never took a lock
    (an older version during a rolling upgrade) keeps its claims until their
    lease expires."""

    __tablename__ = "replicas"

    owner: str = DBField(primary_key=True, max_length=128)
    started_at: datetime = utc_column()
