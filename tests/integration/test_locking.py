"""Row locks on PostgreSQL: an event being edited must not block its triggers' completion.

Regression: the API locked the event row FOR UPDATE while changing its
triggers; the dispatcher, completing a claimed trigger of that event, needed a
KEY SHARE lock on the event for the foreign-key check and waited; the API then
waited for the trigger: deadlock, and the request failed.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from scheduler.config import Settings
from scheduler.models import EventCreate
from scheduler.services.events import EventService
from scheduler.store import claims
from scheduler.store import events as event_store
from scheduler.store import triggers as trigger_store
from scheduler.store.database import Database
from tests.conftest import empty_database

pytestmark = pytest.mark.postgres


async def test_event_lock_does_not_block_trigger_completion(postgres_url: str) -> None:
    await empty_database(postgres_url)
    db = Database(postgres_url)
    try:
        start = datetime.now(UTC) - timedelta(seconds=1)
        service = EventService(db, Settings(), lambda: start - timedelta(minutes=5))
        created = await service.create(
            EventCreate(
                title="locked",
                timezone="UTC",
                start=start.strftime("%Y-%m-%dT%H:%M:%S"),
                end=(start + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S"),
                reminders=[],
            )
        )
        event = created.event
        holding = asyncio.Event()
        release = asyncio.Event()

        async def editor() -> None:
            async with db.session() as session:
                await event_store.get(session, event.id, for_update=True)
                holding.set()
                await release.wait()

        async def dispatcher() -> None:
            async with db.session() as session:
                claimed = await claims.claim_due(
                    session,
                    trigger_store.QUEUE,
                    owner="d",
                    now=db.sql_now(start),
                    lease=timedelta(seconds=60),
                    limit=10,
                )
                assert [t.type for t in claimed] == ["event.started"]
                await claims.complete_many(
                    session,
                    trigger_store.QUEUE,
                    [
                        {
                            "row_id": t.id,
                            "owner": "d",
                            "claim": t.claim_attempt,
                        }
                        for t in claimed
                    ],
                    state="fired",
                    fired_at=start,
                    late_by_seconds=0.0,
                )

        edit = asyncio.create_task(editor())
        await holding.wait()
        try:
            await asyncio.wait_for(dispatcher(), timeout=3)  # not blocked by the edit
        finally:
            release.set()
            await edit
    finally:
        await db.dispose()
