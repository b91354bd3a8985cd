"""Idempotency keys: which resource a POST with a given key created, and with what body."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from scheduler.models import IdempotencyRecord


async def find(
    session: AsyncSession, key: str, scope: str, *, newer_than: datetime
) -> IdempotencyRecord | None:
    result = await session.execute(
        select(IdempotencyRecord).where(
            col(IdempotencyRecord.key) == key,
            col(IdempotencyRecord.scope) == scope,
            col(IdempotencyRecord.created_at) > newer_than,
        )
    )
    return result.scalar_one_or_none()


async def remember(
    session: AsyncSession, record: IdempotencyRecord, *, expired_before: datetime
) -> None:
    """Store ``record``, replacing an expired one with the same key and scope.

    A live record with the same key makes the flush fail with an integrity
    error: the caller lost a race and should look the key up again.
    """
    await session.execute(
        delete(IdempotencyRecord).where(
            col(IdempotencyRecord.key) == record.key,
            col(IdempotencyRecord.scope) == record.scope,
            col(IdempotencyRecord.created_at) <= expired_before,
        )
    )
    session.add(record)
    await session.flush()


async def purge(session: AsyncSession, *, older_than: datetime) -> int:
    result = await session.execute(
        delete(IdempotencyRecord).where(col(IdempotencyRecord.created_at) <= older_than)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
