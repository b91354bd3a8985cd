"""Column types shared by every table.

Every instant is stored as UTC and read back as an aware UTC datetime, on
SQLite as on PostgreSQL (:class:`UTCDateTime`).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator
from sqlmodel import Column
from sqlmodel import Field as DBField


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime column: timestamptz on PostgreSQL, naive UTC text on SQLite."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime stored as an instant")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def new_id() -> str:
    """A random, URL-safe event id."""
    return uuid.uuid4().hex


def utc_column(*, index: bool = False, nullable: bool = False) -> Any:
    return DBField(sa_column=Column(UTCDateTime(), index=index, nullable=nullable))
