"""Firing triggers on time and delivering their webhooks: the only APScheduler user.

The database holds every trigger and delivery; APScheduler only provides the
timing. An interval job refills the ``AsyncIOScheduler`` with one date job per
distinct instant at which something falls due within a short horizon, so
memory does not grow with the number of future events; any event change wakes
a refill at once. When a date job runs it *claims* the due rows in the
database (``scheduler.store.claims``) before doing anything, fans triggers out
into one delivery per matching subscription, and drains due deliveries through
the shared webhook client with bounded concurrency.

APScheduler's defaults would silently drop work: ``misfire_grace_time`` is one
second, so every job runs however late (``None``) and lateness is judged here,
against ``trigger_grace_seconds``, where it is recorded rather than lost.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import socket
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import IO, Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import select
from sqlmodel import col

from scheduler.config import Settings
from scheduler.exceptions import SchedulerError
from scheduler.metrics import Metrics
from scheduler.models import (
    Delivery,
    DeliveryState,
    Event,
    EventType,
    Subscription,
    Trigger,
    TriggerState,
)
from scheduler.reminders.outbox import CLAIM_BATCH, Outbox
from scheduler.reminders.planning import Verdict, judge
from scheduler.representation import event_public
from scheduler.store import claims
from scheduler.store import deliveries as delivery_store
from scheduler.store import subscriptions as subscription_store
from scheduler.store import triggers as trigger_store
from scheduler.store.database import Database
from scheduler.timezones import Clock
from scheduler.webhooks.delivery import WebhookClient
from scheduler.webhooks.payloads import build_body, delivery_id

logger = logging.getLogger(__name__)

TICK_SECONDS = 1.0  # re-arm the timer at least this often: long sleeps wake late (DESIGN.md)
STOP_GRACE_SECONDS = 5.0  # in-flight attempts get this long to finish on shutdown

VERDICT_STATE = {
    Verdict.FIRE: TriggerState.FIRED,
    Verdict.EXPIRED: TriggerState.EXPIRED,
    Verdict.MISSED: TriggerState.MISSED,
    Verdict.SUPERSEDED: TriggerState.SUPERSEDED,
    Verdict.CANCELLED: TriggerState.CANCELLED,
}


class DispatchLocked(SchedulerError):
    """Raised at start when another process already dispatches from this SQLite file."""

    code = "dispatch-locked"


def default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


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
        self._clock_sync = clock_sync
        self.metrics = metrics or Metrics()
        #: called with the events whose scheduled start or end was just processed
        self.lifecycle_listeners: list[Callable[[list[Event]], Awaitable[None]]] = []
        self.db = db
        self.settings = settings
        self.clock = clock
        self.client = client
        self.owner = settings.replica_id or default_owner()
        self.lease = timedelta(seconds=settings.claim_lease_seconds)
        self._scheduler: AsyncIOScheduler | None = None
        self._lock_file: IO[str] | None = None
        self._refill_lock = asyncio.Lock()
        self._fire_lock = asyncio.Lock()
        self._wake_pending = False
        self._stopping = False
        self._held: set[datetime] = set()  # instants with a date job in the scheduler
        self._tasks: set[asyncio.Task[Any]] = set()
        self.last_fire_lag: float | None = None
        self.fired_total = 0
        self.outbox = Outbox(
            db,
            settings,
            clock,
            client,
            self.metrics,
            owner=self.owner,
            spawn=self._spawn,
            schedule_retry=self._schedule_retry,
        )

    async def attempt_now(self, delivery_id: str) -> None:
        """Claim one delivery and attempt it now (ping, redeliver)."""
        await self.outbox.attempt_now(delivery_id)

    # --- life cycle ----------------------------------------------------------------

    async def start(self) -> None:
        if self.db.is_sqlite:
            self._take_sqlite_lock()
            # We are the only dispatcher on this file: claims left by a process
            # that died are ours to take over now, not after their lease.
            async with self.db.session() as session:
                triggers = await claims.release_all(session, trigger_store.QUEUE)
                deliveries = await claims.release_all(session, delivery_store.QUEUE)
            if triggers or deliveries:
                logger.warning(
                    "took over %d trigger and %d delivery claims left by a previous process",
                    triggers,
                    deliveries,
                    extra={"action": "recover"},
                )
        self._scheduler = AsyncIOScheduler(
            timezone=UTC,
            job_defaults={"misfire_grace_time": None, "coalesce": True, "max_instances": 1},
        )
        self._scheduler.add_job(
            self._tracked,
            "interval",
            args=[self.refill],
            seconds=self.settings.scheduler_refill_seconds,
            id="refill",
            next_run_time=datetime.now(UTC),
        )
        self._scheduler.add_job(_tick, "interval", seconds=TICK_SECONDS, id="tick")
        self._scheduler.add_job(
            self._tracked,
            "interval",
            args=[self.renew],
            seconds=max(self.lease.total_seconds() / 3, 0.5),
            id="renew",
        )
        self._scheduler.start()
        logger.info("dispatcher started as %s", self.owner, extra={"action": "startup"})

    async def stop(self) -> None:
        self._stopping = True
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
            self._held.clear()
        if self._tasks:
            _done, pending = await asyncio.wait(self._tasks, timeout=STOP_GRACE_SECONDS)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

    def _take_sqlite_lock(self) -> None:
        path = Path(self.db.url.split(":///", 1)[1] + ".dispatch.lock")
        handle = path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise DispatchLocked(
                f"{holder} is already dispatching reminders from this SQLite database "
                f"({path.with_suffix('')}); run one process per SQLite file, or use "
                "PostgreSQL for several replicas"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(self.owner)
        handle.flush()
        self._lock_file = handle

    @property
    def running(self) -> bool:
        return self._scheduler is not None and self._scheduler.running

    def jobs_held(self) -> int:
        return len(self._scheduler.get_jobs()) if self._scheduler else 0

    def next_fire_time(self) -> datetime | None:
        if self._scheduler is None:
            return None
        times = [
            j.next_run_time
            for j in self._scheduler.get_jobs()
            if j.id.startswith("due:") and j.next_run_time
        ]
        return min(times) if times else None

    # --- timing --------------------------------------------------------------------

    def wake(self) -> None:
        """Something changed in the database: refill the horizon now.

        Wakes coalesce: while one refill waits to run, more wakes add nothing,
        so a burst of changes costs one or two refills, not one each.
        """
        if self._wake_pending:
            return
        self._wake_pending = True
        self._spawn(self._woken_refill())

    async def _woken_refill(self) -> None:
        async with self._refill_lock:
            self._wake_pending = False  # changes from here on need another refill
            await self._refill_locked()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def refill(self) -> None:
        """Hold one date job per instant at which something falls due within the horizon."""
        if self._scheduler is None:
            return
        async with self._refill_lock:
            await self._refill_locked()

    async def _refill_locked(self) -> None:
        if self._scheduler is None:
            return
        try:
            if self._clock_sync is not None:
                await self._clock_sync()
            now = self.clock()
            until = now + timedelta(seconds=self.settings.scheduler_horizon_seconds)
            async with self.db.session() as session:
                instants = set(
                    await claims.due_instants(session, trigger_store.QUEUE, until=until, now=now)
                )
                instants |= set(
                    await claims.due_instants(session, delivery_store.QUEUE, until=until, now=now)
                )
            for instant in instants:
                self._schedule(instant)
        except Exception:
            logger.exception("refill failed", extra={"action": "refill"})

    async def renew(self) -> None:
        """Extend the leases of everything this process is still working on."""
        try:
            until = self.db.sql_now(self.clock()) + self.lease
            async with self.db.session() as session:
                await claims.renew(session, trigger_store.QUEUE, owner=self.owner, until=until)
                await claims.renew(session, delivery_store.QUEUE, owner=self.owner, until=until)
        except Exception:
            logger.exception("renewing leases failed", extra={"action": "renew"})

    def _schedule_retry(self, retry_at: datetime) -> None:
        if retry_at <= self.clock() + timedelta(seconds=self.settings.scheduler_horizon_seconds):
            self._schedule(retry_at)

    def _schedule(self, instant: datetime) -> None:
        """Hold a date job for ``instant`` unless one is already held or running for it."""
        if self._scheduler is None or instant in self._held:
            return
        self._held.add(instant)
        real = datetime.now(UTC)
        # the app clock may be offset from the wall clock (tests, skew): convert
        run_at = max(real, real + (instant - self.clock()))
        self._scheduler.add_job(
            self._tracked,
            "date",
            args=[partial(self._run_due, instant)],
            run_date=run_at,
            id=f"due:{instant.isoformat()}",
            replace_existing=True,
        )

    async def _tracked(self, job: Any) -> None:
        """Run an APScheduler job as a task that ``stop`` waits for."""
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            await job()
        except asyncio.CancelledError:
            if not self._stopping:
                raise
            # cancelled by stop() after its grace period: the work stays claimed
            # in the database and is taken over after its lease
        finally:
            if task is not None:
                self._tasks.discard(task)

    async def _run_due(self, instant: datetime) -> None:
        try:
            try:
                await self.fire_due()
            except Exception:
                logger.exception("firing triggers failed", extra={"action": "fire"})
            await self.outbox.drain()
        finally:
            # only now: a refill meanwhile must not queue a second job for this
            # instant (APScheduler would skip it as a concurrent instance)
            self._held.discard(instant)

    # --- triggers ------------------------------------------------------------------

    async def fire_due(self) -> int:
        """Claim every due trigger (or expired claim), judge it, fan it out, send.

        Claiming the triggers, fanning them out and claiming the new deliveries
        for this process happen in one transaction, so the messages go out
        right after it commits; should this process die before they are
        acknowledged, their leases expire and any replica sends them again
        under the same ``webhook-id``.
        """
        fired = 0
        async with self._fire_lock:
            while True:
                now = self.db.sql_now(self.clock())
                async with self.db.session() as session:
                    claimed = await claims.claim_due(
                        session,
                        trigger_store.QUEUE,
                        owner=self.owner,
                        now=now,
                        lease=self.lease,
                        limit=CLAIM_BATCH,
                    )
                    if not claimed:
                        break
                    count, ready, lifecycle = await self._fan_out(session, claimed)
                fired += count
                for delivery, sub in ready:
                    self.outbox.send(delivery, sub)
                if lifecycle:
                    # told after the claim lock is released: announcing (NOTIFY on
                    # PostgreSQL) must not delay the next due triggers
                    self._spawn(self._announce(lifecycle))
                if len(claimed) < CLAIM_BATCH:
                    break
        self.fired_total += fired
        return fired

    async def _announce(self, lifecycle_events: list[Event]) -> None:
        for listener in self.lifecycle_listeners:
            try:
                await listener(lifecycle_events)
            except Exception:
                logger.exception("lifecycle listener failed", extra={"action": "fire"})

    async def _fan_out(
        self, session: Any, claimed: Sequence[Trigger]
    ) -> tuple[int, list[tuple[Delivery, Subscription]], list[Event]]:
        fired = 0
        subscribers: dict[str, Subscription] = {}
        event_ids = list({t.event_id for t in claimed})
        rows = await session.execute(select(Event).where(col(Event.id).in_(event_ids)))
        events = {e.id: e for e in rows.scalars().all()}
        audience: dict[tuple[str, str | None], list[Subscription]] = {}
        new_deliveries: list[dict[str, Any]] = []
        lifecycle_events: list[Event] = []
        completions: list[dict[str, Any]] = []
        for trigger in claimed:
            event = events.get(trigger.event_id)
            now = self.clock()
            verdict = judge(
                type_=EventType(trigger.type),
                due_at=trigger.due_at,
                now=now,
                grace_seconds=self.settings.trigger_grace_seconds,
                event_status=event.status if event else None,
                event_start=event.start_utc if event else None,
                actual_start=event.actual_start if event else None,
                actual_end=event.actual_end if event else None,
            )
            late = max(0.0, (now - trigger.due_at).total_seconds())
            # claimed in this very transaction: the claim is still ours
            completions.append(
                {
                    "row_id": trigger.id,
                    "owner": self.owner,
                    "claim": trigger.claim_attempt,
                    "new_state": VERDICT_STATE[verdict].value,
                    "fired_at": now,
                    "late": late,
                }
            )
            self.metrics.triggers.labels(trigger.type, VERDICT_STATE[verdict].value).inc()
            if trigger.type in (EventType.STARTED, EventType.ENDED) and event is not None:
                lifecycle_events.append(event)
            log = logger.info if verdict is Verdict.FIRE else logger.warning
            log(
                "trigger %s %s (%.3f s late)",
                trigger.id,
                VERDICT_STATE[verdict].value,
                late,
                extra={"action": "fire", "event_id": trigger.event_id},
            )
            if verdict is not Verdict.FIRE or event is None:
                continue
            fired += 1
            self.last_fire_lag = late
            self.metrics.fire_lateness.observe(late)
            key = (trigger.type, event.channel)
            if key not in audience:
                audience[key] = await subscription_store.matching(
                    session, trigger.type, event.channel
                )
            body = build_body(
                type_=trigger.type,
                now=now,
                event=event_public(event, now=now),
                minutes_before=trigger.minutes_before,
                scheduled_for=trigger.due_at,
                late_by_seconds=late,
            )
            for sub in audience[key]:
                subscribers[sub.id] = sub
                new_deliveries.append(
                    {
                        "id": delivery_id(trigger.id, trigger.generation, sub.id),
                        "subscription_id": sub.id,
                        "trigger_id": trigger.id,
                        "event_id": event.id,
                        "type": trigger.type,
                        "payload": body,
                        # claimed for this process from birth: sent right after commit
                        "state": DeliveryState.DELIVERING.value,
                        "claimed_by": self.owner,
                        "claim_expires_at": now + self.lease,
                        "claim_attempt": 1,
                        "attempts": 0,
                        "next_attempt_at": now,
                        "created_at": now,
                    }
                )
        await trigger_store.finish_claims(session, completions)
        inserted = await delivery_store.insert_new(session, new_deliveries)
        # a delivery that already existed (a trigger fanned out again after a
        # crash) is not ours to send: the ordinary drain picks it up. The rows
        # were validated when built; model_construct skips validating them again
        # (~30 us each, which matters at 10,000 per burst).
        ready = [
            (Delivery.model_construct(**row), subscribers[row["subscription_id"]])
            for row in new_deliveries
            if row["id"] in inserted
        ]
        return fired, ready, lifecycle_events


async def _tick() -> None:
    """Does nothing: its only job is to keep APScheduler's timer short (see TICK_SECONDS)."""
