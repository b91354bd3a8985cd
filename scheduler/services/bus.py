"""The change bus: every process on a database hears of every committed change.

A writer records its changes in its own transaction (``store.changes.record``)
and, once committed, publishes them here: this process's listeners hear them
at once. Other processes (replicas, a server while the CLI writes) hear them
through the store's watch (``NOTIFY`` on PostgreSQL, ``change_log`` on SQLite):
the bus loads the changed rows and hands the changes to its own listeners.
Who listens to what is decided in one place, ``services.routing``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from scheduler.models.changes import RESYNC, Change, ChangeKind
from scheduler.store import changes as change_store
from scheduler.store import events as event_store
from scheduler.store import subscriptions as subscription_store
from scheduler.store.database import Database

logger = logging.getLogger(__name__)

STOP_SECONDS = 5.0

Listener = Callable[[Change], Awaitable[None]]


class ChangeBus:
    def __init__(self, db: Database, origin: str) -> None:
        self.db = db
        self.origin = origin
        self._listeners: list[Listener] = []
        self._task: asyncio.Task[None] | None = None
        self._watch: change_store.PostgresWatch | change_store.SqliteWatch | None = None

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    async def publish(self, change: Change) -> None:
        """A change committed by this process (and recorded for the others)."""
        for listener in self._listeners:
            try:
                await listener(change)
            except Exception:
                logger.exception(
                    "change listener failed", extra={"action": "bus", "event_id": change.ref_id}
                )

    async def announce(self, changes: list[Change]) -> None:
        """Changes this process made outside a writer's transaction (a dispatcher
        processed scheduled starts and ends): record them, then publish."""
        try:
            async with self.db.session() as session:
                await change_store.record(
                    session, self.origin, [(c.kind, c.ref_id) for c in changes]
                )
        except Exception:
            # the others still learn of it at their next refill; nothing is lost
            logger.warning(
                "could not tell other processes of %d changes",
                len(changes),
                extra={"action": "bus"},
            )
        for change in changes:
            await self.publish(change)

    # --- other processes ------------------------------------------------------------

    async def start(self) -> None:
        """Start hearing other processes' changes."""
        kind = (
            change_store.PostgresWatch
            if self.db.dialect == "postgresql"
            else change_store.SqliteWatch
        )
        self._watch = kind(self.db, self.origin, self._remote, self._resync)
        self._task = asyncio.get_running_loop().create_task(self._watch.run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            # bounded: stopping must end even if a cancellation is swallowed
            await asyncio.wait({self._task}, timeout=STOP_SECONDS)
            self._task = None
        if self._watch is not None:
            await self._watch.close()

    async def _resync(self) -> None:
        await self.publish(RESYNC)

    async def _remote(self, notices: list[tuple[str, str]]) -> None:
        """Load what other processes changed and tell this process's listeners."""
        try:
            kinds = [(ChangeKind(kind), ref) for kind, ref in notices]
        except ValueError:
            await self._resync()  # a newer version's change: anything may have changed
            return
        try:
            async with self.db.session() as session:
                events = await event_store.by_ids(
                    session, {ref for kind, ref in kinds if kind.about_event}
                )
                subs = await subscription_store.by_ids(
                    session, [ref for kind, ref in kinds if kind is ChangeKind.WEBHOOK]
                )
        except Exception:
            logger.warning("could not load changes of other processes", extra={"action": "bus"})
            await self._resync()
            return
        for kind, ref in kinds:
            if kind is ChangeKind.WEBHOOK:
                await self.publish(Change(kind, ref, subscription=subs.get(ref)))
            elif kind is ChangeKind.RESYNC:
                await self._resync()
            elif kind is ChangeKind.SERIES:
                await self.publish(Change(kind, ref))
            else:
                event = events.get(ref)
                kind = kind if event is not None else ChangeKind.DELETED
                await self.publish(Change(kind, ref, event, event.channel if event else None))
