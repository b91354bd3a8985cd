"""Bulk-load events and their triggers, as the service would plan them, fast.

Benchmarks need 10,000 to 1,000,000 events; creating them through the API
would measure the API instead. Rows are built with the service's own planning
(``plan_schedule``) and written with multi-row inserts.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert

from scheduler.models import Event, Trigger
from scheduler.reminders.planning import plan_schedule
from scheduler.store.database import Database

BATCH = 5000


async def seed_events(
    db: Database,
    count: int,
    *,
    start_at: Callable[[int], datetime],
    length: timedelta = timedelta(hours=1),
    reminders: list[int] | None = None,
    channel: str | None = None,
    prefix: str = "ev",
) -> list[str]:
    """Insert ``count`` events (and their triggers); event ``i`` starts at ``start_at(i)``."""
    now = datetime.now(UTC)
    reminders = reminders or []
    ids: list[str] = []
    events: list[dict[str, Any]] = []
    triggers: list[dict[str, Any]] = []

    async def flush() -> None:
        if not events:
            return
        async with db.session() as session:
            await session.execute(insert(Event.__table__), events)  # type: ignore[attr-defined]
            if triggers:
                await session.execute(insert(Trigger.__table__), triggers)  # type: ignore[attr-defined]
        events.clear()
        triggers.clear()

    for i in range(count):
        start = start_at(i)
        end = start + length
        event_id = f"{prefix}{i:09d}"
        ids.append(event_id)
        events.append(
            {
                "id": event_id,
                "title": f"Webstream {i}",
                "description": "Benchmark event, Parlement européen",
                "stream_url": f"https://example.org/live/{i}",
                "location": "Brussels",
                "channel": channel,
                "timezone": "UTC",
                "start_local": start.replace(tzinfo=None),
                "end_local": end.replace(tzinfo=None),
                "start_utc": start,
                "end_utc": end,
                "reminders": reminders,
                "status": "scheduled",
                "sequence": 0,
                "created_at": now,
                "updated_at": now,
            }
        )
        for planned in plan_schedule(
            event_id=event_id, start_utc=start, end_utc=end, reminders=reminders, now=now
        ):
            triggers.append(
                {
                    "id": planned.id,
                    "event_id": event_id,
                    "type": planned.type.value,
                    "minutes_before": planned.minutes_before,
                    "due_at": planned.due_at,
                    "state": planned.state.value,
                    "generation": 0,
                    "claim_attempt": 0,
                }
            )
        if len(events) >= BATCH:
            await flush()
    await flush()
    return ids
