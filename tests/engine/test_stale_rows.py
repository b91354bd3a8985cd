"""A change that carries an older row than one already heard changes nothing.

A dispatcher announces the scheduled start it processed (``state``) with the
row it read; an operator who ends the stream meanwhile commits a newer row,
heard first. Live streams went back to "live" after "ended" until the next
refill, and ``GET .../status`` with them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from scheduler.models import Event
from scheduler.models.changes import Change, ChangeKind
from scheduler.services.bus import ChangeBus
from scheduler.services.live import LiveHub
from scheduler.services.routing import route
from scheduler.services.status_view import StatusView
from scheduler.store.database import Database
from tests.conftest import FakeClock

NOW = datetime(2018, 5, 22, 16, 0, tzinfo=UTC)


def row(**fields: object) -> Event:
    start = NOW + timedelta(minutes=30)
    values: dict[str, object] = {
        "id": "e" * 32,
        "title": "Briefing",
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


async def test_a_late_state_announcement_does_not_undo_an_end(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'stale.db'}")
    await db.upgrade()
    clock = FakeClock(NOW)
    hub, view = LiveHub(), StatusView(db, clock)
    bus = route(ChangeBus(db, "test"), clock=clock, live=hub, status=view)
    sub = hub.subscribe(None)
    started = row(actual_start=NOW, sequence=1)
    ended = row(actual_start=NOW, actual_end=NOW + timedelta(seconds=1), sequence=2)
    try:
        await bus.publish(Change(ChangeKind.STARTED, started.id, started, None))
        await bus.publish(Change(ChangeKind.ENDED, ended.id, ended, None))
        # the dispatcher processed the start with the row it read before the end
        await bus.publish(Change(ChangeKind.STATE, started.id, started, None))
        pushed = [m.status["state"] for m in await sub.wait(0)]
        assert pushed == ["live", "ended"]
        assert (await view.get(ended.id)).actual_end is not None
        # a newer row is taken, of course
        edited = row(actual_start=NOW, actual_end=NOW, sequence=3, title="Renamed")
        await bus.publish(Change(ChangeKind.UPDATED, edited.id, edited, None))
        assert (await view.get(edited.id)).title == "Renamed"
    finally:
        await db.dispose()
