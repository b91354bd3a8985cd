"""New events written in bulk (``store.creations``), on SQLite and on PostgreSQL:
the rows read back as written, other processes are told, and a batch is stored
whole or not at all."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from sqlalchemy import func, select

from scheduler.exceptions import StoreConflict
from scheduler.models import Event, IdempotencyRecord, Trigger
from scheduler.models.changes import ChangeRecord
from scheduler.reminders.planning import plan_schedule
from scheduler.store import creations as creation_store
from scheduler.store import events as event_store
from scheduler.store import triggers as trigger_store
from scheduler.store.changes import CHANNEL
from scheduler.store.database import Database
from scheduler.store.rows import built

NOW = datetime(2026, 5, 20, 12, 0, tzinfo=UTC)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    await database.upgrade()
    yield database
    await database.dispose()


def new_event(number: int, **fields: object) -> tuple[Event, list[Trigger]]:
    start = NOW + timedelta(days=2, hours=number)
    values: dict[str, object] = {
        "id": f"ev{number:030d}",
        "title": f"Webstream {number}",
        "description": "Line one\nline two",
        "stream_url": "https://example.org/live",
        "location": None,
        "channel": "plenary",
        "timezone": "Europe/Brussels",
        "start_local": (start + timedelta(hours=2)).replace(tzinfo=None),
        "end_local": (start + timedelta(hours=3)).replace(tzinfo=None),
        "start_utc": start,
        "end_utc": start + timedelta(hours=1),
        "reminders": [60, 15],
        "tags": [],
        "status": "scheduled",
        "actual_start": None,
        "actual_end": None,
        "cancelled_at": None,
        "previous_start_utc": None,
        "sequence": 0,
        "created_at": NOW,
        "updated_at": NOW,
        "import_source": None,
        "import_key": None,
        "series_id": None,
        "recurrence_id": None,
        "exception": False,
        "cancel_reason": None,
        "pause_id": None,
        **fields,
    }
    event = built(Event, values)
    plan = plan_schedule(
        event_id=event.id,
        start_utc=event.start_utc,
        end_utc=event.end_utc,
        reminders=list(event.reminders),
        now=NOW,
    )
    return event, trigger_store.new_rows(event.id, plan)


def record(key: str, event: Event) -> creation_store.Remembered:
    row = IdempotencyRecord(
        key=key,
        scope="POST /api/events",
        fingerprint="f" * 64,
        resource_id=event.id,
        created_at=NOW,
    )
    return row, NOW - timedelta(hours=24)


async def counts(db: Database) -> tuple[int, int]:
    async with db.session() as session:
        events = (await session.execute(select(func.count()).select_from(Event))).scalar_one()
        triggers = (await session.execute(select(func.count()).select_from(Trigger))).scalar_one()
    return int(events), int(triggers)


async def test_a_batch_reads_back_as_written_and_is_announced(db: Database) -> None:
    batch = [new_event(i) for i in range(5)]
    heard: list[str] = []
    listener = None
    if db.dialect == "postgresql":
        url = db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        listener = await asyncpg.connect(url)
        await listener.add_listener(CHANNEL, lambda *args: heard.append(args[-1]))
    try:
        await creation_store.write(
            db,
            [event for event, _ in batch],
            [t for _, triggers in batch for t in triggers],
            [record("key-1", batch[0][0])],
            origin="test",
        )
        async with db.session() as session:
            for event, triggers in batch:
                stored = await event_store.get(session, event.id)
                assert stored is not None
                assert stored.model_dump() == event.model_dump()
                read_back = await trigger_store.for_events(session, [event.id])
                assert [t.model_dump() for t in read_back] == [t.model_dump() for t in triggers]
            if db.dialect != "postgresql":
                notices = (await session.execute(select(ChangeRecord))).scalars().all()
        expected = [["created", event.id] for event, _ in batch]
        if listener is not None:
            for _ in range(50):
                if heard:
                    break
                await asyncio.sleep(0.02)
            assert [json.loads(payload) for payload in heard] == [
                {"from": "test", "changes": expected}
            ]
        else:
            assert [[n.kind, n.ref_id] for n in notices] == expected
            assert {n.origin for n in notices} == {"test"}
    finally:
        if listener is not None:
            await listener.close()


async def test_a_batch_with_a_taken_key_stores_nothing(db: Database) -> None:
    first, first_triggers = new_event(0)
    await creation_store.write(db, [first], first_triggers, [record("taken", first)], origin="t")
    batch = [new_event(i) for i in range(1, 4)]
    with pytest.raises(StoreConflict):
        await creation_store.write(
            db,
            [event for event, _ in batch],
            [t for _, triggers in batch for t in triggers],
            [record("fresh", batch[0][0]), record("taken", batch[1][0])],
            origin="t",
        )
    assert await counts(db) == (1, 4)


async def test_an_expired_key_is_taken_over(db: Database) -> None:
    old, old_triggers = new_event(0)
    expired = IdempotencyRecord(
        key="again",
        scope="POST /api/events",
        fingerprint="0" * 64,
        resource_id=old.id,
        created_at=NOW - timedelta(days=2),
    )
    await creation_store.write(
        db, [old], old_triggers, [(expired, NOW - timedelta(days=3))], origin="t"
    )
    new, new_triggers = new_event(1)
    await creation_store.write(db, [new], new_triggers, [record("again", new)], origin="t")
    async with db.session() as session:
        kept = await session.get(IdempotencyRecord, ("again", "POST /api/events"))
    assert kept is not None and kept.resource_id == new.id


async def test_a_value_too_long_for_its_column_is_refused_not_cut(db: Database) -> None:
    if db.dialect != "postgresql":
        pytest.skip("SQLite does not enforce column lengths")
    event, triggers = new_event(0, title="x" * 201)
    with pytest.raises(Exception, match="too long"):
        await creation_store.write(db, [event], triggers, [], origin="t")
    assert await counts(db) == (0, 0)
