"""The ``?status=`` SQL filter follows exactly the pure lifecycle rules."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from scheduler.models import Event
from scheduler.status import CANCELLED, SCHEDULED, State, lifecycle
from scheduler.store import events as event_store
from scheduler.store.database import Database
from scheduler.store.events import EventFilter

T0 = datetime(2018, 5, 22, 16, 15, tzinfo=UTC)


def random_event(rng: random.Random, i: int) -> Event:
    def at() -> datetime:
        return T0 + timedelta(minutes=rng.randint(-120, 120))

    start = at()
    end = start + timedelta(minutes=rng.randint(1, 120))
    return Event(
        id=f"e{i:04d}",
        title=f"event {i}",
        timezone="UTC",
        start_local=start.replace(tzinfo=None),
        end_local=end.replace(tzinfo=None),
        start_utc=start,
        end_utc=end,
        reminders=[],
        status=CANCELLED if rng.random() < 0.15 else SCHEDULED,
        actual_start=at() if rng.random() < 0.3 else None,
        actual_end=at() if rng.random() < 0.2 else None,
        created_at=T0,
        updated_at=T0,
    )


async def test_sql_state_filter_matches_pure_rules(database_url: str) -> None:
    rng = random.Random(20180522)
    events = [random_event(rng, i) for i in range(300)]
    db = Database(database_url)
    try:
        await db.upgrade()
        async with db.session() as session:
            session.add_all(events)
        for _ in range(15):
            now = T0 + timedelta(minutes=rng.randint(-150, 250))
            for state in State:
                async with db.session() as session:
                    rows = await event_store.list_page(
                        session, EventFilter(state=state), now=now, after=None, limit=1000
                    )
                expected = {
                    e.id
                    for e in events
                    if lifecycle(
                        status=e.status,
                        start_utc=e.start_utc,
                        end_utc=e.end_utc,
                        actual_start=e.actual_start,
                        actual_end=e.actual_end,
                        now=now,
                    ).state
                    is state
                }
                assert {r.id for r in rows} == expected, (state, now)
    finally:
        await db.dispose()
