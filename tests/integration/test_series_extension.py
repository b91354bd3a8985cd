"""Series are extended as time passes, by the server's periodic job, and two
processes extending the same series at once store each occurrence once (the
unique constraint on (series_id, recurrence_id), not a lock in memory)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from scheduler.http.app import create_app
from scheduler.services.events import EventService
from scheduler.services.series import SeriesService
from scheduler.services.series_extension import SeriesExtension
from scheduler.store.database import Database
from tests.conftest import AUTH, FakeClock, make_settings
from tests.series_support import Client, create_series, occurrences


async def _until(client: Client, series_id: str, count: int, timeout: float = 5) -> list[Any]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        found = await occurrences(client, series_id)
        if len(found) >= count or asyncio.get_running_loop().time() > deadline:
            return found
        await asyncio.sleep(0.05)


async def test_the_periodic_job_extends_a_series_as_days_pass(
    aiohttp_client: Any, tmp_path: Path, database_url: str
) -> None:
    clock = FakeClock(datetime(2027, 1, 1, 12, 0, tzinfo=UTC))
    settings = make_settings(
        tmp_path, database_url, series_horizon_days=10, series_extend_seconds=0.05
    )
    client: Client = await aiohttp_client(create_app(settings, clock=clock))
    series = await create_series(
        client, start="2027-01-02T08:00", end="2027-01-02T09:00", rrule="FREQ=DAILY"
    )
    first = await occurrences(client, series["id"])
    # ten days from the first start (the horizon counts from it while it is ahead)
    assert [e["start"][:10] for e in first][-1] == "2027-01-12"
    assert len(first) == 11
    etag = (await client.get(f"/api/series/{series['id']}")).headers["ETag"]
    clock.advance(days=5)
    found = await _until(client, series["id"], 15)
    assert len(found) == 15
    assert found[-1]["start"][:10] == "2027-01-16"
    assert len({e["recurrence_id"] for e in found}) == 15  # none twice
    shown = await (await client.get(f"/api/series/{series['id']}")).json()
    assert shown["materialized_until"] == "2027-01-16T12:00:00Z"
    # the extension is housekeeping: a version read before it still matches
    resp = await client.patch(
        f"/api/series/{series['id']}",
        json={"title": "Morning news"},
        headers={**AUTH, "If-Match": etag},
    )
    assert resp.status == 200, await resp.text()


async def test_two_processes_extending_at_once_store_each_occurrence_once(
    aiohttp_client: Any, tmp_path: Path, database_url: str
) -> None:
    clock = FakeClock(datetime(2027, 1, 1, 12, 0, tzinfo=UTC))
    settings = make_settings(tmp_path, database_url, series_horizon_days=30)
    client: Client = await aiohttp_client(create_app(settings, clock=clock))
    series = await create_series(
        client, start="2027-01-02T08:00", end="2027-01-02T09:00", rrule="FREQ=DAILY"
    )
    clock.advance(days=20)
    services = []
    for name in ("a", "b"):
        db = Database(settings.effective_database_url)
        events = EventService(db, settings, clock, origin=f"replica-{name}")
        services.append((db, SeriesExtension(SeriesService(events))))
    try:
        added = await asyncio.gather(*(s.extend_due() for _, s in services))
    finally:
        for db, _ in services:
            await db.dispose()
    assert sum(added) == 19  # 2 January to 1 February, then to 20 February
    found = await occurrences(client, series["id"])
    assert len(found) == 50
    assert len({e["recurrence_id"] for e in found}) == 50
