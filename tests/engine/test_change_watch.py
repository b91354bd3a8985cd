"""Changes between processes on one SQLite file: the watch hears other writers'
commits, skips its own, and keeps the log short."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

from scheduler.models.changes import ChangeRecord
from scheduler.store import changes as change_store
from scheduler.store.database import Database


async def test_sqlite_watch_hears_other_writers_within_its_poll(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'watch.db'}"
    server, cli = Database(url), Database(url)  # two connections, as two processes have
    await server.upgrade()
    async with server.session() as session:
        session.add(
            ChangeRecord(
                origin="cli",
                kind="created",
                ref_id="old",
                at=datetime.now(UTC) - timedelta(hours=1),
            )
        )
    heard: list[list[tuple[str, str]]] = []
    arrived = asyncio.Event()

    async def on_changes(notices: list[tuple[str, str]]) -> None:
        heard.append(notices)
        arrived.set()

    async def resync() -> None:
        raise AssertionError("nothing was missed")

    watch = change_store.SqliteWatch(server, "server", on_changes, resync)
    task = asyncio.get_running_loop().create_task(watch.run())
    try:
        await asyncio.sleep(0.3)  # started; the row written before it is not news
        async with server.session() as session:
            await change_store.record(session, "server", [("updated", "mine")])
        async with cli.session() as session:
            await change_store.record(session, "cli", [("cancelled", "ev1"), ("deleted", "ev2")])
        committed = asyncio.get_running_loop().time()
        await asyncio.wait_for(arrived.wait(), 2)
        took = asyncio.get_running_loop().time() - committed
        assert heard == [[("cancelled", "ev1"), ("deleted", "ev2")]]  # not its own
        assert took < 0.25
        async with server.session() as session:
            left = (await session.execute(select(func.count()).select_from(ChangeRecord))).scalar()
        assert left == 3  # the hour-old row was purged
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await watch.close()
        await server.dispose()
        await cli.dispose()
