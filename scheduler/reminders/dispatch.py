"""The dispatcher: one process's reminder engine, put together and kept in step.

It coordinates the engine's rooms and does little itself:

- ``timing``: the APScheduler clockwork; ``horizon``: what falls due soon,
  kept armed there (refills, the prepare pass, retries);
- ``preparing`` (with the pure ``fanout``): claim, judge and fan out the
  triggers due soon; ``prepared``: their messages, held in memory until their
  instant; ``completions``: what each trigger became, written at quiet moments;
- ``outbox``: due deliveries claimed in batches; ``sending``: the sender pool;
  ``outcomes``: attempt outcomes written in batches, with ``endpoint_health``;
- ``upkeep``: claims renewed, given back, rechecked and taken over from a
  dead process; ``dispatch_lock``: one dispatcher per SQLite file.

Changes reach it from the change routing (``services.routing``): a changed
event takes back what was prepared for it (:meth:`withdraw`), a changed
webhook is used as it now is (:meth:`subscription_changed`), a new event
wakes a refill if it falls due within the horizon (:meth:`created`), and
anything else wakes one (:meth:`wake`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from scheduler.config import Settings
from scheduler.metrics import Metrics
from scheduler.models import Event, Subscription
from scheduler.reminders.completions import Completions
from scheduler.reminders.dispatch_lock import DispatchLocked, SqliteDispatchLock
from scheduler.reminders.horizon import Horizon
from scheduler.reminders.outbox import Outbox
from scheduler.reminders.outcomes import OutcomeWriter
from scheduler.reminders.prepared import Prepared, PreparedMessages
from scheduler.reminders.preparing import Preparer
from scheduler.reminders.sending import BURST_SETTLE_SECONDS, Senders
from scheduler.reminders.timing import Timing
from scheduler.reminders.upkeep import Upkeep
from scheduler.store.changes import this_process
from scheduler.store.database import Database
from scheduler.store.replicas import ReplicaLock
from scheduler.timezones import Clock
from scheduler.webhooks.delivery import WebhookClient

__all__ = ["DispatchLocked", "Dispatcher"]

logger = logging.getLogger(__name__)

STOP_GRACE_SECONDS = 5.0  # in-flight attempts get this long to finish on shutdown
WRITE_WAIT_SECONDS = 2.0  # bookkeeping waits at most this long for a quiet moment
DEAD_CHECK_SECONDS = 1.0  # how often a replica looks for dead ones (PostgreSQL)
HOUSEKEEPING_SECONDS = 300.0  # purging expired idempotency keys


class Dispatcher:
    """Fires due triggers and delivers webhooks for one process."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        clock: Clock,
        client: WebhookClient,
        metrics: Metrics | None = None,
        *,
        clock_sync: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        self.metrics = metrics or Metrics()
        self.owner = this_process(settings.replica_id)
        self.lease = timedelta(seconds=settings.claim_lease_seconds)
        #: called with the events whose scheduled start or end was just processed
        self.lifecycle_listeners: list[Callable[[list[Event]], Awaitable[None]]] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._stopping = False
        self._sqlite_lock: SqliteDispatchLock | None = None
        self._replica_lock: ReplicaLock | None = None

        self.timing = Timing(clock, self._tracked)
        self.senders = Senders(
            db, settings, clock, client, self.metrics, owner=self.owner, spawn=self._spawn
        )
        self.senders.outcomes = OutcomeWriter(
            db,
            settings,
            clock,
            self.metrics,
            owner=self.owner,
            quiet=partial(self._quiet, slow_after=BURST_SETTLE_SECONDS),
            schedule_retry=lambda at: self.horizon.hold_retry(at),
            written=self.senders.forget,
        )
        self.outbox = Outbox(
            db, clock, self.senders, owner=self.owner, lease_seconds=settings.claim_lease_seconds
        )
        self.prepared = PreparedMessages(clock, self._came)
        self.completions = Completions(
            db,
            clock,
            self.metrics,
            owner=self.owner,
            quiet=self._quiet,
            announce=self._announce,
            spawn=self._spawn,
        )
        self.preparer = Preparer(
            db,
            settings,
            clock,
            owner=self.owner,
            senders=self.senders,
            prepared=self.prepared,
            completions=self.completions,
        )
        self.horizon = Horizon(
            db,
            settings,
            clock,
            timing=self.timing,
            preparer=self.preparer,
            outbox=self.outbox,
            spawn=self._spawn,
            announce=self._announce,
            clock_sync=clock_sync,
        )
        self.upkeep = Upkeep(
            db,
            settings,
            clock,
            owner=self.owner,
            senders=self.senders,
            prepared=self.prepared,
            wake=self.wake,
        )

    # --- life cycle ----------------------------------------------------------------

    async def start(self) -> None:
        if self.db.is_sqlite:
            self._sqlite_lock = SqliteDispatchLock(
                Path(self.db.url.split(":///", 1)[1]), self.owner
            )
            self._sqlite_lock.take()
            await self.upkeep.take_over_previous()
        every = [
            ("refill", self.settings.scheduler_refill_seconds, self.horizon.refill),
            ("renew", max(self.lease.total_seconds() / 3, 0.5), self.upkeep.renew),
            ("housekeeping", HOUSEKEEPING_SECONDS, self.upkeep.housekeeping),
        ]
        if self.db.dialect == "postgresql":
            self._replica_lock = ReplicaLock(self.db, self.owner)
            await self._replica_lock.take()
            # a predecessor that died under this replica_id left claims: ours now
            await self.upkeep.take_over_previous(owners={self.owner})
            every.append(("dead-replicas", DEAD_CHECK_SECONDS, self.upkeep.take_over_dead))
        self.timing.start(every=every, first="refill")
        logger.info("dispatcher started as %s", self.owner, extra={"action": "startup"})

    async def stop(self) -> None:
        self._stopping = True
        self.horizon.stopping = True
        self.completions.stopping = True
        self.timing.stop()
        try:
            await asyncio.wait_for(
                self.upkeep.give_back(self.prepared.withdraw()), timeout=STOP_GRACE_SECONDS
            )
        except TimeoutError:
            logger.warning(
                "could not return prepared triggers in time; they are taken over after their lease",
                extra={"action": "shutdown"},
            )
        if self._tasks:
            _done, pending = await asyncio.wait(self._tasks, timeout=STOP_GRACE_SECONDS)
            for task in pending:
                task.cancel()
            if pending:
                # bounded too: stopping must end even if a task ignores cancellation
                _done, stuck = await asyncio.wait(pending, timeout=STOP_GRACE_SECONDS)
                if stuck:
                    logger.error(
                        "%d dispatcher tasks did not stop", len(stuck), extra={"action": "shutdown"}
                    )
        await self.completions.wait(STOP_GRACE_SECONDS)
        if self.senders.outcomes is not None:
            await self.senders.outcomes.flush(STOP_GRACE_SECONDS)
        if self._sqlite_lock is not None:
            self._sqlite_lock.release()
        if self._replica_lock is not None:
            await self._replica_lock.release()

    @property
    def running(self) -> bool:
        return self.timing.running

    def jobs_held(self) -> int:
        return self.timing.jobs_held()

    @property
    def last_fire_lag(self) -> float | None:
        return self.completions.last_fire_lag

    @property
    def fired_total(self) -> int:
        return self.completions.fired_total

    def next_fire_time(self) -> datetime | None:
        """The next instant at which something this process holds falls due."""
        times = [t for t in (self.timing.next_due(), self.prepared.next_instant()) if t]
        return min(times) if times else None

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _tracked(self, job: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run a timed job as a task of its own that ``stop`` waits for.

        APScheduler cancels the jobs it runs when it shuts down; a job cancelled
        inside a database transaction leaves its connection unusable (and the
        error it then raises hides the cancellation). So the job runs in its own
        task, shielded: ``stop`` gives it its grace period like any other.
        """
        if self._stopping:
            return
        task = self._spawn(job())
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            if not self._stopping and not task.done():
                raise
            # APScheduler shutting down: the job goes on; stop() waits for it and,
            # after its grace period, cancels it (its work stays claimed in the
            # database and is taken over)

    # --- changes -------------------------------------------------------------------

    def wake(self) -> None:
        """Something changed in the database: refill the horizon now."""
        self.horizon.wake()

    def created(self, event: Event) -> None:
        """A new event: refill now if its first trigger falls due within the horizon.
        A later one is found by a periodic refill, as is every event stored before
        (a refill per create, for a burst of events next week, was a query each)."""
        first = event.start_utc - timedelta(minutes=max(event.reminders, default=0))
        self.horizon.wake_for(first)

    async def refill(self) -> None:
        await self.horizon.refill()

    def withdraw(self, event_id: str) -> None:
        """An event changed: drop what was prepared for it (its change has taken the
        triggers back in the database; they are prepared again from the new data).
        They are also given back here: a pass that claimed them again between the
        change's commit and this notice must not leave them claimed for ever."""
        dropped = self.prepared.withdraw(lambda p: p.trigger.event_id != event_id)
        if dropped:
            logger.debug(
                "withdrew %d prepared triggers of a changed event",
                len(dropped),
                extra={"action": "fire", "event_id": event_id},
            )
            self._spawn(self.upkeep.give_back(dropped))

    async def revalidate(self) -> None:
        """Changes may have been missed: keep only what this process still holds."""
        await self.upkeep.revalidate()

    def subscription_changed(self, sub_id: str, sub: Subscription | None) -> None:
        """A webhook was changed (``None``: deleted): messages prepared for it go
        out to it as it now is (or not at all)."""
        self.prepared.replace_subscription(sub_id, sub)

    async def attempt_now(self, delivery_id: str) -> None:
        """Claim one delivery and attempt it now (ping, redeliver)."""
        retry_at = await self.outbox.attempt_now(delivery_id)
        if retry_at is not None:
            self.horizon.hold_retry(retry_at)

    # --- prepared messages ---------------------------------------------------------

    def _came(self, due: datetime, items: list[Prepared]) -> None:
        """A prepared instant has come: send its messages, then book the triggers."""
        for item in items:
            for message in item.sends:
                self.senders.send(message)
        self.completions.came(due, items)

    async def _quiet(self, slow_after: float | None = None) -> None:
        """Wait for a moment when bookkeeping does not hold up sending: no prepared
        message due in a moment, no burst still going out. With ``slow_after``, a
        receiver slow to answer does not hold up the outcomes (and so the retries)
        of the others."""
        await asyncio.sleep(0)  # and let writes arriving alongside join the batch
        await self.prepared.until_quiet(WRITE_WAIT_SECONDS)
        await self.senders.caught_up(slow_after=slow_after)

    async def _announce(self, lifecycle_events: list[Event]) -> None:
        for listener in self.lifecycle_listeners:
            try:
                await listener(lifecycle_events)
            except Exception:
                logger.exception("lifecycle listener failed", extra={"action": "fire"})
