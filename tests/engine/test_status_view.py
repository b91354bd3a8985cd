"""The status view answers "is it live?" from memory, and only asks the database,
boundedly, about events it does not hold."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from scheduler.exceptions import NotFound
from scheduler.models import Event
from scheduler.models.changes import Change, ChangeKind
from scheduler.services.status_view import StatusView
from scheduler.store.database import Database
from tests.conftest import FakeClock

NOW = datetime(2018, 5, 22, 16, 0, tzinfo=UTC)


def event(event_id: str, start: datetime, **fields: object) -> Event:
    values: dict[str, object] = {
        "id": event_id,
        "title": event_id,
        "timezone": "UTC",
        "start_local": start.replace(tzinfo=None),
        "end_local": (start + timedelta(hours=1)).replace(tzinfo=None),
        "start_utc": start,
        "end_utc": start + timedelta(hours=1),
        "created_at": NOW,
        "updated_at": NOW,
    }
    values.update(fields)
    return Event(**values)


async def test_status_comes_from_memory_and_unknown_ids_are_looked_up_once(
    tmp_path: Path,
) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'view.db'}")
    await db.upgrade()
    clock = FakeClock(NOW)
    rows = [
        event("a" * 32, NOW - timedelta(minutes=10)),  # live now
        event("b" * 32, NOW + timedelta(minutes=30)),  # soon
        event("c" * 32, NOW + timedelta(days=30)),  # far: not held
        event("d" * 32, NOW - timedelta(days=2), actual_start=NOW - timedelta(days=2)),
    ]
    async with db.session() as session:
        session.add_all(rows)
    view = StatusView(db, clock)
    try:
        await view.reload()
        assert [e.id for e in view.live()] == ["d" * 32, "a" * 32]  # by start
        assert (await view.get("b" * 32)).title == "b" * 32
        assert view.database_lookups == 0  # held: no query
        assert (await view.get("c" * 32)).title == "c" * 32
        assert (await view.get("c" * 32)).title == "c" * 32
        assert view.database_lookups == 1  # cached after one lookup
        unknown = "e" * 32
        for _ in range(3):
            with pytest.raises(NotFound):
                await view.get(unknown)
        assert view.database_lookups == 2  # a miss is remembered too
        with pytest.raises(NotFound):
            await view.get("not an id")  # not even looked up
        assert view.database_lookups == 2

        # 20 different unknown ids at once: at most 4 queries run together
        running = peak = 0
        real = db.session

        def counted():  # type: ignore[no-untyped-def]
            class Counted:
                async def __aenter__(self):  # type: ignore[no-untyped-def]
                    nonlocal running, peak
                    running += 1
                    peak = max(peak, running)
                    self.inner = real()
                    await asyncio.sleep(0.01)
                    return await self.inner.__aenter__()

                async def __aexit__(self, *exc):  # type: ignore[no-untyped-def]
                    nonlocal running
                    running -= 1
                    return await self.inner.__aexit__(*exc)

            return Counted()

        db.session = counted  # type: ignore[method-assign]
        results = await asyncio.gather(
            *(view.get(f"{i:032x}") for i in range(20)), return_exceptions=True
        )
        db.session = real  # type: ignore[method-assign]
        assert all(isinstance(r, NotFound) for r in results)
        assert peak <= 4

        # a change replaces the row in memory; a deletion forgets it
        moved = event("b" * 32, NOW - timedelta(minutes=1))
        await view.on_change(Change(ChangeKind.UPDATED, moved.id, moved))
        assert "b" * 32 in [e.id for e in view.live()]
        await view.on_change(Change(ChangeKind.DELETED, "b" * 32))
        with pytest.raises(NotFound):
            await view.get("b" * 32)
        assert view.database_lookups == 22  # the deletion answered without a query
    finally:
        await db.dispose()
