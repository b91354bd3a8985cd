"""A unique key taken by another transaction reaches services as a conflict (409)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from scheduler.exceptions import StoreConflict
from scheduler.models import Event
from scheduler.store import events as event_store
from scheduler.store.database import Database


def _event(now: datetime) -> Event:
    start = now + timedelta(days=1)
    return Event(
        id="evt_taken",
        title="Twice",
        timezone="UTC",
        start_local=start.replace(tzinfo=None),
        end_local=(start + timedelta(hours=1)).replace(tzinfo=None),
        start_utc=start,
        end_utc=start + timedelta(hours=1),
        created_at=now,
        updated_at=now,
    )


async def test_a_primary_key_taken_meanwhile_is_a_conflict_not_a_driver_error(
    database_url: str,
) -> None:
    """The unique-violation half of the clash rule (the foreign-key half is in
    test_store_errors): the driver's IntegrityError never leaves the store."""
    db = Database(database_url)
    try:
        await db.upgrade()
        now = datetime.now(UTC)
        async with db.session() as session:
            await event_store.add(session, _event(now))
        with pytest.raises(StoreConflict) as caught:
            async with db.session() as session:
                await event_store.add(session, _event(now))
        assert caught.value.code == "conflict"
        assert "retry" in caught.value.message
        async with db.session() as session:
            assert set(await event_store.by_ids(session, ["evt_taken"])) == {"evt_taken"}
    finally:
        await db.dispose()
