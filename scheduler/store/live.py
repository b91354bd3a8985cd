"""The events that can be live soon: what the in-process status view holds."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from scheduler.models import Event
from scheduler.status import CANCELLED


async def near(
    session: AsyncSession, *, now: datetime, ahead: timedelta, behind: timedelta
) -> Sequence[Event]:
    """Events scheduled to start within ``now - behind .. now + ahead`` (a range of
    the start index), and every stream an operator started and has not ended
    (live whatever its schedule says; a partial index holds them)."""
    scheduled = await session.execute(
        select(Event).where(
            col(Event.start_utc) >= now - behind, col(Event.start_utc) <= now + ahead
        )
    )
    rows = {event.id: event for event in scheduled.scalars().all()}
    open_streams = await session.execute(
        select(Event).where(
            col(Event.actual_start).is_not(None),
            col(Event.actual_end).is_(None),
            col(Event.status) != CANCELLED,
        )
    )
    rows.update((event.id, event) for event in open_streams.scalars().all())
    return list(rows.values())
