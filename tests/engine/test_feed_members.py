"""A feed kept in memory and moved by changes holds exactly what the database would
answer: random creates, moves, channel changes, cancels and deletes, with the clock
moving events out of the window and a limit that cuts the feed, compared after
every step with a feed service that has kept nothing."""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from scheduler.config import Settings
from scheduler.models import EventCreate, EventUpdate
from scheduler.services.events import EventService
from scheduler.services.feeds import FeedService
from scheduler.store.database import Database
from tests.conftest import FakeClock

NOW = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
CHANNELS = [None, "plenary", "press"]


def uids(body: bytes) -> list[str]:
    return re.findall(r"^UID:([^@\r\n]+)@", body.decode(), flags=re.MULTILINE)


def wall(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M")


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_a_kept_feed_follows_changes_and_the_clock_as_the_database_would(
    tmp_path: Path, seed: int
) -> None:
    rnd = random.Random(seed)
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'feed.db'}",
        data_dir=tmp_path,
        api_tokens=("t" * 32,),
        feed_max_events=6,
        feed_past_days=1,
        feed_cancelled_days=1,
    )
    db = Database(settings.database_url)
    await db.upgrade()
    clock = FakeClock(NOW)
    events = EventService(db, settings, clock)
    kept = FeedService(db, settings, clock)
    events.subscribe(kept.on_change)
    ids: list[str] = []
    try:
        for step in range(70):
            action = rnd.choice(["create"] * 4 + ["move", "channel", "cancel", "delete", "time"])
            if action == "create" or not ids:
                start = clock.now + timedelta(hours=rnd.randint(-30, 60))
                data = EventCreate(
                    title=f"event {step}",
                    timezone="Europe/Brussels",
                    start=wall(start),
                    end=wall(start + timedelta(hours=rnd.randint(1, 3))),
                    channel=rnd.choice(CHANNELS),
                    reminders=[],
                )
                ids.append((await events.create(data)).event.id)
            elif action == "time":
                clock.advance(hours=rnd.randint(1, 12))
            else:
                target = rnd.choice(ids)
                if action == "delete":
                    await events.delete(target)
                    ids.remove(target)
                elif action == "cancel":
                    await events.cancel(target)
                elif (await events.get(target)).status == "scheduled":
                    if action == "move":
                        start = clock.now + timedelta(hours=rnd.randint(-30, 60))
                        end = start + timedelta(hours=1)
                        change = EventUpdate(start=wall(start), end=wall(end))
                    else:
                        change = EventUpdate(channel=rnd.choice(CHANNELS))
                    await events.update(target, change)
            fresh = FeedService(db, settings, clock)  # keeps nothing: asks the database
            for channel in (None, "plenary"):
                got = uids((await kept.calendar(channel)).body)
                want = uids((await fresh.calendar(channel)).body)
                assert got == want, f"step {step} ({action}), channel {channel}"
    finally:
        await db.dispose()
