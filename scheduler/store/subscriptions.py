"""Subscription rows: webhook endpoints and what they listen to."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from scheduler.exceptions import NotFound
from scheduler.inputs import looks_like_id
from scheduler.models import Subscription


async def get(
    session: AsyncSession, sub_id: str, *, for_update: bool = False
) -> Subscription | None:
    if not looks_like_id(sub_id):
        return None
    return await session.get(Subscription, sub_id, with_for_update=for_update or None)


async def require(session: AsyncSession, sub_id: str, *, for_update: bool = False) -> Subscription:
    """The subscription, or :class:`NotFound` naming the id (locked for a write if asked)."""
    sub = await get(session, sub_id, for_update=for_update)
    if sub is None:
        raise NotFound(f"no webhook with id {sub_id!r}")
    return sub


async def list_all(session: AsyncSession) -> Sequence[Subscription]:
    result = await session.execute(
        select(Subscription).order_by(col(Subscription.created_at), col(Subscription.id))
    )
    return result.scalars().all()


async def matching(session: AsyncSession, type_: str, channel: str | None) -> list[Subscription]:
    """Active subscriptions that want ``type_`` for an event on ``channel``.

    A subscription without a channel hears every channel; the type list is
    JSON, so it is matched here rather than in SQL.
    """
    query = select(Subscription).where(col(Subscription.active).is_(True))
    if channel is None:
        query = query.where(col(Subscription.channel).is_(None))
    else:
        query = query.where(
            (col(Subscription.channel).is_(None)) | (col(Subscription.channel) == channel)
        )
    result = await session.execute(query)
    return [s for s in result.scalars().all() if type_ in s.types]


async def by_ids(session: AsyncSession, ids: Sequence[str]) -> dict[str, Subscription]:
    if not ids:
        return {}
    result = await session.execute(select(Subscription).where(col(Subscription.id).in_(ids)))
    return {s.id: s for s in result.scalars().all()}


async def set_fields(session: AsyncSession, sub_id: str, **values: Any) -> None:
    """Change these columns of one subscription."""
    await session.execute(
        update(Subscription).where(col(Subscription.id) == sub_id).values(**values)
    )


async def add(session: AsyncSession, sub: Subscription) -> None:
    session.add(sub)
    await session.flush()


def save(session: AsyncSession, sub: Subscription) -> None:
    """Write ``sub``'s changed fields with the transaction."""
    session.add(sub)


async def remove(session: AsyncSession, sub: Subscription) -> None:
    """Delete the webhook (its deliveries and their log go with it)."""
    await session.delete(sub)
