"""Event rows: insert, fetch, page through, delete.

Listing pages by keyset on ``(start_utc, id)`` so that a cursor stays valid
while events are added; the ``state`` filter is the SQL form of the rules in
``scheduler.status`` (kept side by side with them by a property test).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, String, and_, cast, delete, false, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from scheduler.exceptions import NotFound
from scheduler.inputs import looks_like_id
from scheduler.models import Event
from scheduler.status import CANCELLED, State

#: ids or keys per ``IN (...)`` (SQLite allows 32,766 parameters a statement)
IN_CHUNK = 5000


@dataclass(frozen=True)
class EventFilter:
    """What ``GET /api/events`` may ask for; ``None`` means "any"."""

    starts_before: datetime | None = None  # ``to``: events that start before this
    ends_after: datetime | None = None  # ``from``: events that end after this
    state: State | None = None
    channel: str | None = None
    tag: str | None = None
    series_id: str | None = None  # ``series``: the occurrences of one series


def state_clause(state: State, now: datetime) -> ColumnElement[bool]:
    """SQL for "this event is in ``state`` at ``now``" (see ``scheduler.status``)."""
    not_cancelled = col(Event.status) != CANCELLED
    start, end = col(Event.start_utc), col(Event.end_utc)
    actual_start, actual_end = col(Event.actual_start), col(Event.actual_end)
    if state is State.CANCELLED:
        return col(Event.status) == CANCELLED
    if state is State.UPCOMING:
        return and_(
            not_cancelled,
            actual_end.is_(None),
            actual_start.is_(None),
            start > now,
        )
    if state is State.LIVE:
        return and_(
            not_cancelled,
            actual_end.is_(None),
            or_(actual_start.is_not(None), and_(start <= now, end > now)),
        )
    if state is State.ENDED:
        return and_(
            not_cancelled,
            or_(actual_end.is_not(None), and_(actual_start.is_(None), end <= now)),
        )
    return false()


def has_tag(tag: str) -> ColumnElement[bool]:
    """SQL for "``tag`` is among the event's tags": the JSON list's text holds
    ``"tag"`` (tags hold no quote; ``_``, a LIKE wildcard, is escaped)."""
    escaped = tag.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return cast(col(Event.tags), String).like(f'%"{escaped}"%', escape="\\")


async def add(session: AsyncSession, event: Event) -> Event:
    session.add(event)
    await session.flush()
    return event


def save(session: AsyncSession, event: Event) -> None:
    """Write ``event``'s changed fields with the transaction."""
    session.add(event)


async def get(session: AsyncSession, event_id: str, *, for_update: bool = False) -> Event | None:
    if not looks_like_id(event_id):
        return None
    query = select(Event).where(col(Event.id) == event_id)
    if for_update:
        # FOR NO KEY UPDATE: an edit never changes the key, and this lock does not
        # block the KEY SHARE that foreign-key checks on triggers take. A plain
        # FOR UPDATE deadlocked against a dispatcher completing this event's triggers.
        query = query.with_for_update(key_share=True)
    result = await session.execute(query)
    return result.scalar_one_or_none()


async def require(session: AsyncSession, event_id: str, *, for_update: bool = False) -> Event:
    """The event, or :class:`NotFound` naming the id."""
    event = await get(session, event_id, for_update=for_update)
    if event is None:
        raise NotFound(f"no event with id {event_id!r}")
    return event


async def list_page(
    session: AsyncSession,
    filters: EventFilter,
    *,
    now: datetime,
    after: tuple[datetime, str] | None,
    limit: int,
) -> Sequence[Event]:
    """Up to ``limit`` events ordered by start, after the keyset position ``after``."""
    query = select(Event)
    if filters.starts_before is not None:
        query = query.where(col(Event.start_utc) < filters.starts_before)
    if filters.ends_after is not None:
        query = query.where(col(Event.end_utc) > filters.ends_after)
    if filters.channel is not None:
        query = query.where(col(Event.channel) == filters.channel)
    if filters.tag is not None:
        query = query.where(has_tag(filters.tag))
    if filters.series_id is not None:
        query = query.where(col(Event.series_id) == filters.series_id)
    if filters.state is not None:
        query = query.where(state_clause(filters.state, now))
    if after is not None:
        start, event_id = after
        query = query.where(
            or_(
                col(Event.start_utc) > start,
                and_(col(Event.start_utc) == start, col(Event.id) > event_id),
            )
        )
    query = query.order_by(col(Event.start_utc), col(Event.id)).limit(limit)
    result = await session.execute(query)
    return result.scalars().all()


async def remove(session: AsyncSession, event_id: str) -> bool:
    result = await session.execute(delete(Event).where(col(Event.id) == event_id))
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def count_by_state(session: AsyncSession, *, now: datetime) -> dict[str, int]:
    counts = {}
    for state in State:
        result = await session.execute(
            select(func.count()).select_from(Event).where(state_clause(state, now))
        )
        counts[state.value] = int(result.scalar_one())
    return counts


async def by_ids(session: AsyncSession, ids: Collection[str]) -> dict[str, Event]:
    """The events with these ids (those that exist), in one query."""
    if not ids:
        return {}
    rows = await session.execute(select(Event).where(col(Event.id).in_(list(ids))))
    return {event.id: event for event in rows.scalars().all()}


async def imported(session: AsyncSession, source: str, keys: Collection[str]) -> dict[str, Event]:
    """The events an import from ``source`` created, by their import key."""
    found: dict[str, Event] = {}
    wanted = list(keys)
    for i in range(0, len(wanted), IN_CHUNK):
        rows = await session.execute(
            select(Event).where(
                col(Event.import_source) == source,
                col(Event.import_key).in_(wanted[i : i + IN_CHUNK]),
            )
        )
        found.update((event.import_key, event) for event in rows.scalars().all())  # type: ignore[misc]
    return found


async def imported_open(
    session: AsyncSession, source: str, *, now: datetime
) -> list[tuple[str, str]]:
    """(id, import key) of the events imported from ``source`` that are neither
    cancelled nor over: what an import may take out."""
    rows = await session.execute(
        select(col(Event.id), col(Event.import_key)).where(
            col(Event.import_source) == source,
            col(Event.status) != CANCELLED,
            col(Event.end_utc) > now,
        )
    )
    return [(event_id, key) for event_id, key in rows.all() if key]


async def channels(session: AsyncSession) -> list[str]:
    """Every channel an event names, by name (read through the channel index)."""
    rows = await session.execute(
        select(col(Event.channel))
        .where(col(Event.channel).is_not(None))
        .distinct()
        .order_by(col(Event.channel))
    )
    return [name for name in rows.scalars().all() if name]
