"""Stopping while creates are under way, on SQLite and on PostgreSQL: every create
already accepted is stored and answered, none is left waiting, later ones are
refused with a 503 a client can retry."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from scheduler.exceptions import StoreUnavailable
from scheduler.models import EventCreate
from scheduler.services.creations import Created
from scheduler.services.events import EventService
from scheduler.store import events as event_store
from scheduler.store.database import Database
from tests.conftest import FakeClock, make_settings


async def test_closing_stores_every_accepted_create(tmp_path: Path, database_url: str) -> None:
    db = Database(database_url)
    await db.upgrade()
    service = EventService(db, make_settings(tmp_path, database_url), FakeClock())
    try:
        creates = [
            asyncio.ensure_future(
                service.create(
                    EventCreate(
                        title=f"accepted {i}",
                        timezone="Europe/Brussels",
                        start="2018-05-22T18:15",
                        end="2018-05-22T19:30",
                    )
                )
            )
            for i in range(30)
        ]
        await asyncio.sleep(0)  # every create has reached the writer's queue
        await service.close()
        assert all(task.done() for task in creates)  # nobody left waiting
        created: list[Created] = [task.result() for task in creates]
        async with db.session() as session:
            stored = await event_store.by_ids(session, [c.event.id for c in created])
        titles = sorted(e.title for e in stored.values())
        assert titles == sorted(f"accepted {i}" for i in range(30))

        with pytest.raises(StoreUnavailable, match="stopping"):
            await service.create(
                EventCreate(
                    title="too late",
                    timezone="UTC",
                    start="2018-05-22T18:15",
                    end="2018-05-22T19:30",
                )
            )
    finally:
        await db.dispose()
