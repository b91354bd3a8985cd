"""Series rows, their pauses, and their occurrences (event rows with ``series_id``).

New occurrences are written in bulk: one multi-row INSERT of events that
skips any occurrence already stored (``ON CONFLICT (series_id, recurrence_id)
DO NOTHING``, on SQLite as on PostgreSQL) and returns the ids it stored, then
the triggers of those alone. Two replicas extending one series at once thus
store each occurrence once, without a lock held in memory; on PostgreSQL the
series row is also locked for the transaction (``require(for_update=True)``),
so the loser waits and then finds nothing left to add.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy import Table, and_, delete, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from scheduler.exceptions import NotFound
from scheduler.inputs import looks_like_id
from scheduler.models import Event, Series, SeriesPause, Trigger
from scheduler.models.series import ACTIVE
from scheduler.status import CANCELLED
from scheduler.store.creations import TRIGGER_COLUMNS

EVENTS: Table = Event.__table__  # type: ignore[attr-defined]
TRIGGERS: Table = Trigger.__table__  # type: ignore[attr-defined]


def add(session: AsyncSession, series: Series) -> None:
    session.add(series)


async def get(session: AsyncSession, series_id: str, *, for_update: bool = False) -> Series | None:
    if not looks_like_id(series_id):
        return None
    query = select(Series).where(col(Series.id) == series_id)
    if for_update:
        query = query.with_for_update(key_share=True)
    return (await session.execute(query)).scalar_one_or_none()


async def require(session: AsyncSession, series_id: str, *, for_update: bool = False) -> Series:
    """The series, or :class:`NotFound` naming the id."""
    series = await get(session, series_id, for_update=for_update)
    if series is None:
        raise NotFound(f"no series with id {series_id!r}")
    return series


async def list_page(
    session: AsyncSession, *, after: tuple[datetime, str] | None, limit: int
) -> Sequence[Series]:
    """Up to ``limit`` series in order of creation, after the keyset position ``after``."""
    query = select(Series)
    if after is not None:
        at, series_id = after
        query = query.where(
            or_(
                col(Series.created_at) > at,
                and_(col(Series.created_at) == at, col(Series.id) > series_id),
            )
        )
    query = query.order_by(col(Series.created_at), col(Series.id)).limit(limit)
    return (await session.execute(query)).scalars().all()


async def remove(session: AsyncSession, series_id: str) -> None:
    """Delete the series; its occurrences, their triggers and its pauses go with it."""
    # explicitly, not only by the foreign keys' cascade: the rows' ids are needed
    # by the caller before, and SQLite without foreign_keys would keep them
    await session.execute(delete(Event).where(col(Event.series_id) == series_id))
    await session.execute(delete(SeriesPause).where(col(SeriesPause.series_id) == series_id))
    await session.execute(delete(Series).where(col(Series.id) == series_id))


async def occurrences(session: AsyncSession, series_id: str) -> list[Event]:
    """Every occurrence of the series, by recurrence id."""
    rows = await session.execute(
        select(Event)
        .where(col(Event.series_id) == series_id)
        .order_by(col(Event.recurrence_id), col(Event.id))
    )
    return list(rows.scalars().all())


async def for_feed(
    session: AsyncSession, series_ids: Sequence[str]
) -> dict[str, tuple[Series, list[Event], list[SeriesPause]]]:
    """For each series of ``series_ids`` that exists: the series, its occurrences
    (by recurrence id) and its pauses, in three queries whatever their number."""
    if not series_ids:
        return {}
    ids = list(series_ids)
    found: dict[str, tuple[Series, list[Event], list[SeriesPause]]] = {
        s.id: (s, [], [])
        for s in (await session.execute(select(Series).where(col(Series.id).in_(ids)))).scalars()
    }
    events = await session.execute(
        select(Event)
        .where(col(Event.series_id).in_(ids))
        .order_by(col(Event.recurrence_id), col(Event.id))
    )
    for event in events.scalars():
        if event.series_id in found:
            found[event.series_id][1].append(event)
    pauses = await session.execute(
        select(SeriesPause)
        .where(col(SeriesPause.series_id).in_(ids))
        .order_by(col(SeriesPause.start_date), col(SeriesPause.id))
    )
    for pause in pauses.scalars():
        if pause.series_id in found:
            found[pause.series_id][2].append(pause)
    return found


async def next_occurrences(
    session: AsyncSession, series_ids: Sequence[str], *, now: datetime, limit: int
) -> dict[str, list[Event]]:
    """For each series, its next ``limit`` occurrences that end after ``now`` and
    are not cancelled (one query for a whole page of series: a window function
    numbers each series' occurrences by start)."""
    found: dict[str, list[Event]] = {sid: [] for sid in series_ids}
    if not series_ids:
        return found
    place = (
        func.row_number()
        .over(partition_by=col(Event.series_id), order_by=(col(Event.start_utc), col(Event.id)))
        .label("place")
    )
    numbered = (
        select(col(Event.id), place)
        .where(
            col(Event.series_id).in_(list(series_ids)),
            col(Event.end_utc) > now,
            col(Event.status) != CANCELLED,
        )
        .subquery()
    )
    rows = await session.execute(
        select(Event)
        .join(numbered, numbered.c.id == col(Event.id))
        .where(numbered.c.place <= limit)
        .order_by(col(Event.start_utc), col(Event.id))
    )
    for event in rows.scalars():
        if event.series_id is not None:
            found[event.series_id].append(event)
    return found


async def insert_occurrences(
    session: AsyncSession, events: Sequence[Event], triggers: Sequence[Trigger]
) -> set[str]:
    """Store new occurrences (rows with every column) and the triggers of those
    stored; an occurrence already there is skipped. Returns the ids stored."""
    if not events:
        return set()
    dialect = session.bind.dialect.name  # type: ignore[union-attr]
    module = postgresql if dialect == "postgresql" else sqlite
    columns = [c.key for c in EVENTS.columns]
    statement = (
        module.insert(EVENTS)
        .on_conflict_do_nothing(index_elements=["series_id", "recurrence_id"])
        .returning(EVENTS.c.id)
    )
    result = await session.execute(
        statement, [{n: vars(row)[n] for n in columns} for row in events]
    )
    stored = set(result.scalars().all())
    rows = [{n: vars(t)[n] for n in TRIGGER_COLUMNS} for t in triggers if t.event_id in stored]
    if rows:
        await session.execute(insert(TRIGGERS), rows)
    return stored


async def mark_materialized(session: AsyncSession, series_id: str, until: datetime) -> None:
    await session.execute(
        update(Series)
        .where(col(Series.id) == series_id, col(Series.materialized_until) < until)
        .values(materialized_until=until)
    )


async def due_for_extension(session: AsyncSession, *, before: datetime, limit: int) -> list[str]:
    """Active series whose occurrences stop short of ``before``."""
    rows = await session.execute(
        select(col(Series.id))
        .where(col(Series.status) == ACTIVE, col(Series.materialized_until) < before)
        .order_by(col(Series.materialized_until))
        .limit(limit)
    )
    return list(rows.scalars().all())


# --- pauses ----------------------------------------------------------------------


def add_pause(session: AsyncSession, pause: SeriesPause) -> None:
    session.add(pause)


async def pauses(session: AsyncSession, series_id: str) -> list[SeriesPause]:
    rows = await session.execute(
        select(SeriesPause)
        .where(col(SeriesPause.series_id) == series_id)
        .order_by(col(SeriesPause.start_date), col(SeriesPause.id))
    )
    return list(rows.scalars().all())


async def require_pause(session: AsyncSession, series_id: str, pause_id: str) -> SeriesPause:
    pause = None
    if looks_like_id(pause_id):
        pause = await session.get(SeriesPause, pause_id)
    if pause is None or pause.series_id != series_id:
        raise NotFound(f"series {series_id!r} has no pause with id {pause_id!r}")
    return pause


async def remove_pause(session: AsyncSession, pause_id: str) -> None:
    await session.execute(delete(SeriesPause).where(col(SeriesPause.id) == pause_id))


async def imported(session: AsyncSession, source: str, keys: Collection[str]) -> dict[str, Series]:
    """The series an import from ``source`` created, by their import key."""
    if not keys:
        return {}
    rows = await session.execute(
        select(Series).where(
            col(Series.import_source) == source, col(Series.import_key).in_(list(keys))
        )
    )
    return {s.import_key: s for s in rows.scalars().all() if s.import_key}


async def imported_active(session: AsyncSession, source: str) -> list[tuple[str, str]]:
    """(id, import key) of the active series imported from ``source``."""
    rows = await session.execute(
        select(col(Series.id), col(Series.import_key)).where(
            col(Series.import_source) == source, col(Series.status) == ACTIVE
        )
    )
    return [(series_id, key) for series_id, key in rows.all() if key]
