"""The events a feed shows: recent and future ones, cancelled ones for a while.

Occurrences of a recurring series are not counted among a feed's events (at
most ``feed_max_events``): a feed shows their series once, as a master
(:func:`feed_series`), and a few daily series must not push one-off events out.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, and_, func, or_, select
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
        col(Event.series_id).is_(None), _shown(ended_after, cancelled_after)
    )
    if channel is not None:
        query = query.where(col(Event.channel) == channel)
    query = query.order_by(col(Event.start_utc), col(Event.id)).limit(limit)
    result = await session.execute(query)
    return result.scalars().all()


def _shown(ended_after: datetime, cancelled_after: datetime) -> ColumnElement[bool]:
    return and_(
        col(Event.end_utc) > ended_after,
        or_(
            col(Event.status) != CANCELLED,
            and_(col(Event.status) == CANCELLED, col(Event.cancelled_at) > cancelled_after),
        ),
    )


async def feed_series(
    session: AsyncSession,
    *,
    channel: str | None,
    ended_after: datetime,
    cancelled_after: datetime,
) -> list[str]:
    """The series with an occurrence the feed's window shows, by their first such."""
    query = (
        select(col(Event.series_id))
        .where(col(Event.series_id).is_not(None), _shown(ended_after, cancelled_after))
        .group_by(col(Event.series_id))
        .order_by(func.min(col(Event.start_utc)), col(Event.series_id))
    )
    if channel is not None:
        query = query.where(col(Event.channel) == channel)
    result = await session.execute(query)
    return [series_id for series_id in result.scalars().all() if series_id is not None]
