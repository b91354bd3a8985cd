"""The events a feed shows: recent and future ones, cancelled ones for a while."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from scheduler.models import Event
from scheduler.status import CANCELLED


async def feed_events(
    session: AsyncSession,
    *,
    channel: str | None,
    ended_after: datetime,
    cancelled_after: datetime,
    limit: int,
) -> Sequence[Event]:
    query = select(Event).where(
        col(Event.end_utc) > ended_after,
        or_(
            col(Event.status) != CANCELLED,
            and_(col(Event.status) == CANCELLED, col(Event.cancelled_at) > cancelled_after),
        ),
    )
    if channel is not None:
        query = query.where(col(Event.channel) == channel)
    query = query.order_by(col(Event.start_utc), col(Event.id)).limit(limit)
    result = await session.execute(query)
    return result.scalars().all()
