"""The change bus: every replica hears of every committed event change.

Listeners (the feed cache, the live hub, the dispatcher's horizon) subscribe
here instead of to the event service. A change made in this process reaches
them at once; on PostgreSQL it is also sent with ``NOTIFY`` and every other
replica, ``LISTEN``-ing on a dedicated asyncpg connection, loads the event and
hands the change to its own listeners, so a change through replica A is in
replica B's horizon, feed cache and SSE streams within milliseconds. On SQLite
(one process) the same interface is served in-process. A lost listening
connection is re-opened with backoff, and every listener is then told that
anything may have changed (``kind="resync"``), since notifications sent in
between are gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from sqlalchemy import text

from scheduler.services.events import EventChange
from scheduler.store import events as event_store
from scheduler.store.database import Database

logger = logging.getLogger(__name__)

CHANNEL = "broadcast_scheduler_changes"
NOTIFY_BATCH = 100  # changes per notification; a payload must stay under 8,000 bytes
RECONNECT_FIRST = 0.5  # seconds; doubles up to RECONNECT_MAX
RECONNECT_MAX = 10.0
STOP_SECONDS = 5.0

Listener = Callable[[EventChange], Awaitable[None]]


class ChangeBus:
    def __init__(self, db: Database, owner: str) -> None:
        self.db = db
        self.owner = owner
        self._listeners: list[Listener] = []
        self._task: asyncio.Task[None] | None = None
        self._connection: Any = None

    @property
    def distributed(self) -> bool:
        return self.db.dialect == "postgresql"

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    async def _deliver(self, change: EventChange) -> None:
        for listener in self._listeners:
            try:
                await listener(change)
            except Exception:
                logger.exception(
                    "change listener failed", extra={"action": "bus", "event_id": change.event_id}
                )

    async def publish(self, change: EventChange) -> None:
        """Tell this process's listeners now, and the other replicas through NOTIFY."""
        await self.publish_many([change])

    async def publish_many(self, changes: list[EventChange]) -> None:
        """As :meth:`publish`, for a burst (the starts of a 10,000-event minute):
        other replicas get one notification per ``NOTIFY_BATCH`` changes."""
        for change in changes:
            await self._deliver(change)
        if not self.distributed or not changes:
            return
        try:
            async with self.db.engine.begin() as conn:
                for i in range(0, len(changes), NOTIFY_BATCH):
                    payload = json.dumps(
                        {
                            "from": self.owner,
                            "changes": [
                                [c.kind, c.event_id] for c in changes[i : i + NOTIFY_BATCH]
                            ],
                        }
                    )
                    await conn.execute(
                        text("SELECT pg_notify(:c, :p)"), {"c": CHANNEL, "p": payload}
                    )
        except Exception:
            # The others still learn of it at their next refill; nothing is lost.
            logger.warning("could not notify other replicas", extra={"action": "bus"})

    # --- listening (PostgreSQL) -----------------------------------------------------

    async def start(self) -> None:
        if self.distributed:
            self._task = asyncio.get_running_loop().create_task(self._listen_forever())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            # bounded: stopping must end even if a cancellation is swallowed
            # (asyncio.wait_for in Python 3.11 can do that)
            await asyncio.wait({self._task}, timeout=STOP_SECONDS)
            self._task = None
        await self._close()

    async def _close(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(Exception):
                await self._connection.close(timeout=2)
            self._connection = None

    async def _listen_forever(self) -> None:
        delay = RECONNECT_FIRST
        first = True
        while True:
            lost = asyncio.Event()
            try:
                url = self.db.engine.url.set(drivername="postgresql")
                dsn = url.render_as_string(hide_password=False)
                self._connection = await asyncpg.connect(dsn, timeout=5)
                self._connection.add_termination_listener(lambda _conn, ev=lost: ev.set())
                await self._connection.add_listener(CHANNEL, self._on_notification)
                delay = RECONNECT_FIRST
                logger.info("listening for changes from other replicas", extra={"action": "bus"})
                if not first:
                    await self._deliver(EventChange("resync", "", None, None))
                first = False
                while not lost.is_set():
                    # asyncpg notices a dead socket only when it uses it: probe now and then
                    try:
                        await asyncio.wait_for(lost.wait(), 5)
                    except TimeoutError:
                        await asyncio.wait_for(self._connection.execute("SELECT 1"), 5)
            except asyncio.CancelledError:
                raise
            except Exception as err:
                logger.warning(
                    "change listener connection lost (%s); reconnecting in %.1f s",
                    type(err).__name__,
                    delay,
                    extra={"action": "bus"},
                )
            await self._close()
            await asyncio.sleep(delay)
            delay = min(delay * 2, RECONNECT_MAX)

    def _on_notification(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        try:
            message = json.loads(payload)
        except ValueError:
            return
        if message.get("from") == self.owner:
            return  # our own change: listeners already heard it
        for kind, event_id in message.get("changes", []):
            asyncio.get_running_loop().create_task(self._remote(str(kind), str(event_id)))

    async def _remote(self, kind: str, event_id: str) -> None:
        try:
            async with self.db.session() as session:
                event = await event_store.get(session, event_id)
        except Exception:
            logger.warning("could not load a changed event", extra={"action": "bus"})
            await self._deliver(EventChange("resync", "", None, None))
            return
        channel = event.channel if event else None
        await self._deliver(EventChange(kind if event else "deleted", event_id, event, channel))
