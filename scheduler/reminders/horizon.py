"""The horizon: what falls due soon, kept armed in ``timing``.

A refill (every ``scheduler_refill_seconds``, and at once whenever something
changed: :meth:`Horizon.wake`) asks the store for the instants due within
``scheduler_horizon_seconds``: the prepare job is set for the earliest
waiting trigger (``Preparer.arm_time``: half the lookahead before it, earlier
for a large burst) and one job per instant a delivery (a retry, a message
put back) falls due, which drains the outbox. So memory does not grow with
the number of future events. A prepare pass prepares everything due within
the lookahead, then sets the prepare job for the next trigger still waiting.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from datetime import datetime, timedelta
from typing import Any

from scheduler.config import Settings
from scheduler.models import Event
from scheduler.reminders.outbox import Outbox
from scheduler.reminders.preparing import Preparer
from scheduler.reminders.timing import Timing
from scheduler.store import claims
from scheduler.store import deliveries as delivery_store
from scheduler.store import triggers as trigger_store
from scheduler.store.database import Database
from scheduler.timezones import Clock

logger = logging.getLogger(__name__)


class Horizon:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        clock: Clock,
        *,
        timing: Timing,
        preparer: Preparer,
        outbox: Outbox,
        spawn: Callable[[Coroutine[Any, Any, Any]], asyncio.Task[Any]],
        announce: Callable[[list[Event]], Coroutine[Any, Any, None]],
        clock_sync: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.span = timedelta(seconds=settings.scheduler_horizon_seconds)
        self.timing = timing
        self.preparer = preparer
        self.outbox = outbox
        self._spawn = spawn
        self._announce = announce
        self._clock_sync = clock_sync
        self._refill_lock = asyncio.Lock()
        self._wake_pending = False
        self._preparing = False
        self._prepare_again = False
        self.stopping = False

    def wake(self) -> None:
        """Something changed in the database: refill now. Wakes coalesce: while one
        refill waits to run, more wakes add nothing, so a burst of changes costs
        one or two refills, not one each."""
        if self._wake_pending:
            return
        self._wake_pending = True
        self._spawn(self._woken())

    def wake_for(self, due: datetime) -> None:
        """Refill now if something due at ``due`` belongs in the horizon already."""
        if due <= self.clock() + self.span:
            self.wake()

    async def _woken(self) -> None:
        async with self._refill_lock:
            self._wake_pending = False  # changes from here on need another refill
            await self._refill_locked()

    async def refill(self) -> None:
        """Hold a job for every instant at which something falls due within the horizon."""
        async with self._refill_lock:
            await self._refill_locked()

    async def _refill_locked(self) -> None:
        if not self.timing.running:
            return
        try:
            if self._clock_sync is not None:
                await self._clock_sync()
            now = self.clock()
            until = now + self.span
            async with self.db.session() as session:
                triggers = await claims.due_instants(
                    session, trigger_store.QUEUE, until=until, now=now
                )
                deliveries = await claims.due_instants(
                    session, delivery_store.QUEUE, until=until, now=now
                )
                if triggers:
                    await self._arm_prepare(session, min(triggers))
            for instant in set(deliveries):
                self.timing.hold(instant, self.outbox.drain)
        except Exception:
            logger.exception("refill failed", extra={"action": "refill"})

    def hold_retry(self, retry_at: datetime) -> None:
        """A retry within the horizon is held now; a later one at a later refill."""
        if retry_at <= self.clock() + self.span:
            self.timing.hold(retry_at, self.outbox.drain)

    async def _arm_prepare(self, session: Any, instant: datetime) -> None:
        run_at = await self.preparer.arm_time(session, instant)
        self.timing.arm_prepare(run_at, instant, self.prepare)

    async def prepare(self) -> None:
        """Prepare every trigger due within the lookahead, then set the prepare job
        for the earliest trigger still waiting."""
        if self._preparing:
            self._prepare_again = True
            return
        self._preparing = True
        try:
            self._prepare_again = True
            while self._prepare_again and not self.stopping:
                self._prepare_again = False
                try:
                    lifecycle = await self.preparer.prepare_due()
                    if lifecycle:
                        # told once the claim is committed: announcing (NOTIFY on
                        # PostgreSQL) must not delay the next due triggers
                        self._spawn(self._announce(lifecycle))
                except Exception:
                    logger.exception("firing triggers failed", extra={"action": "fire"})
                await self.outbox.drain()  # deliveries a crashed process left, if any
            async with self.db.session() as session:
                upcoming = await claims.next_due(session, trigger_store.QUEUE)
                if upcoming is not None:
                    await self._arm_prepare(session, upcoming)
        except Exception:
            logger.exception("preparing triggers failed", extra={"action": "fire"})
        finally:
            self._preparing = False
