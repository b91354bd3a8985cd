"""The events that can be live soon: what the in-process status view holds."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from scheduler.models import Event
from scheduler.status import CANCELLED


async def near(session: AsyncSession, *, now: datetime, window: timedelta) -> Sequence[Event]:
    """Events scheduled to overlap ``now ± window``, and every stream an operator
    started and has not ended (live whatever its schedule says)."""
    result = await session.execute(
        select(Event).where(
            or_(
                and_(col(Event.start_utc) <= now + window, col(Event.end_utc) >= now - window),
                and_(
                    col(Event.actual_start).is_not(None),
                    col(Event.actual_end).is_(None),
                    col(Event.status) != CANCELLED,
                ),
            )
        )
    )
    return result.scalars().all()
