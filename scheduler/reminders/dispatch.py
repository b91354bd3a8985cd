"""Firing triggers on time and delivering their webhooks: the only APScheduler user.

The database holds every trigger and delivery; APScheduler only provides the
timing. An interval job refills the ``AsyncIOScheduler`` from the database
within a short horizon, so memory does not grow with the number of future
events; any event change wakes a refill at once. The horizon holds a
*prepare* job for the earliest waiting trigger and one date job per instant
at which a delivery (a retry) falls due.

The prepare job runs ``dispatch_lookahead_seconds / 2`` before the earliest
trigger and *claims* in the database (``scheduler.store.claims``) every
trigger due within the lookahead, judges it as of its due time, and fans it
out into one delivery per matching subscription, written already claimed by
this process, in one transaction. The messages then wait in memory
(``scheduler.reminders.prepared``) and go out at their instant; only then is
the trigger recorded as fired. A change to an event takes back what was
prepared for it (``trigger_store.release_prepared``, in the change's own
transaction, then in memory when the change is heard). Date jobs for
deliveries drain them through the shared webhook client with bounded
concurrency.

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
import time
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
from scheduler.reminders.outbox import BURST_SETTLE_SECONDS, CLAIM_BATCH, Outbox, signing_secrets
from scheduler.reminders.planning import Verdict, judge
from scheduler.reminders.prepared import Prepared, PreparedMessages
from scheduler.representation import event_public
from scheduler.store import claims
from scheduler.store import deliveries as delivery_store
from scheduler.store import subscriptions as subscription_store
from scheduler.store import triggers as trigger_store
from scheduler.store.database import Database
from scheduler.timezones import Clock
from scheduler.webhooks.delivery import WebhookClient
from scheduler.webhooks.payloads import build_body, delivery_id
from scheduler.webhooks.signing import sign_headers

logger = logging.getLogger(__name__)

TICK_SECONDS = 1.0  # re-arm the timer at least this often: long sleeps wake late (DESIGN.md)
STOP_GRACE_SECONDS = 5.0  # in-flight attempts get this long to finish on shutdown
WRITE_WAIT_SECONDS = 2.0  # bookkeeping waits at most this long for a quiet moment

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
        self.lookahead = timedelta(seconds=settings.dispatch_lookahead_seconds)
        self.prepared = PreparedMessages(clock, self._release_prepared)
        self._prepare_for: datetime | None = None  # trigger instant the prepare job is set for
        self._prepare_at: datetime | None = None  # when that job runs (wall clock)
        self._ahead = self.lookahead  # how far ahead the next pass claims
        self._seconds_per_trigger = 0.001  # measured cost of preparing one trigger (EWMA)
        self._preparing = False
        self._prepare_again = False
        self._fired: list[dict[str, Any]] = []  # completions of sent triggers, to write
        self._fired_events: list[Event] = []  # their starts and ends, to announce
        self._finisher: asyncio.Task[None] | None = None
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
            quiet=self._quiet_for_outcomes,
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
        try:
            await asyncio.wait_for(
                self._give_back(self.prepared.withdraw()), timeout=STOP_GRACE_SECONDS
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
        if self._finisher is not None and not self._finisher.done():
            await asyncio.wait({self._finisher}, timeout=STOP_GRACE_SECONDS)
        await self.outbox.flush(STOP_GRACE_SECONDS)
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

    def _take_sqlite_lock(self) -> None:
        database = Path(self.db.url.split(":///", 1)[1])
        path = database.with_name(database.name + ".dispatch.lock")
        handle = path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise DispatchLocked(
                f"{holder} is already dispatching reminders from this SQLite database "
                f"({database}; lock file {path}): stop that process first, give this one "
                "its own database file (SCHEDULER_DATABASE_URL), or use PostgreSQL for "
                "several replicas"
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
        """The next instant at which something this process holds falls due."""
        if self._scheduler is None:
            return None
        times = [
            j.next_run_time
            for j in self._scheduler.get_jobs()
            if j.id.startswith("due:") and j.next_run_time
        ]
        times += [t for t in (self._prepare_for, self.prepared.next_instant()) if t is not None]
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

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

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
                triggers = await claims.due_instants(
                    session, trigger_store.QUEUE, until=until, now=now
                )
                deliveries = await claims.due_instants(
                    session, delivery_store.QUEUE, until=until, now=now
                )
                if triggers:
                    await self._arm_prepare(session, min(triggers))
            for instant in set(deliveries):
                self._schedule(instant)
        except Exception:
            logger.exception("refill failed", extra={"action": "refill"})

    async def renew(self) -> None:
        """Extend the leases of everything this process is still working on.

        Deliveries are renewed by id, those prepared or in the outbox: a claimed
        delivery this process lost track of must expire and be taken over, not
        stay "delivering" for as long as the process lives.
        """
        try:
            until = self.db.sql_now(self.clock()) + self.lease
            working = self.outbox.held() | self.prepared.delivery_ids()
            async with self.db.session() as session:
                await claims.renew(session, trigger_store.QUEUE, owner=self.owner, until=until)
                await claims.renew(
                    session, delivery_store.QUEUE, owner=self.owner, until=until, ids=working
                )
        except Exception:
            logger.exception("renewing leases failed", extra={"action": "renew"})

    async def _arm_prepare(self, session: Any, instant: datetime) -> None:
        """Run the prepare job half the lookahead before ``instant`` (a trigger's due
        time), and earlier by the measured time it takes to prepare the backlog of
        triggers due with it (10,000 starts in one minute take seconds), unless it
        is already set to run earlier."""
        if self._scheduler is None:
            return
        lead = self.lookahead / 2
        if self.lookahead:
            backlog = await claims.count_due(
                session, trigger_store.QUEUE, until=instant + self.lookahead
            )
            horizon = self.settings.scheduler_horizon_seconds
            lead += timedelta(seconds=min(backlog * self._seconds_per_trigger, horizon / 2))
        real = datetime.now(UTC)
        run_at = max(real, real + (instant - lead - self.clock()))
        if self._prepare_at is not None and self._prepare_at <= run_at:
            return
        self._prepare_for, self._prepare_at = instant, run_at
        self._ahead = max(self.lookahead, lead + self.lookahead / 2)
        self._scheduler.add_job(
            self._prepare_job, "date", run_date=run_at, id="prepare", replace_existing=True
        )

    async def _prepare_job(self) -> None:
        # returns at once: a prepare pass may outlast the next job of this id,
        # which APScheduler would skip as a second running instance
        self._prepare_for = self._prepare_at = None
        self._spawn(self._prepare())

    async def _prepare(self) -> None:
        """Claim, fan out and prepare every trigger due within the lookahead, then
        set the prepare job for the earliest trigger still waiting."""
        if self._preparing:
            self._prepare_again = True
            return
        self._preparing = True
        try:
            self._prepare_again = True
            while self._prepare_again and not self._stopping:
                self._prepare_again = False
                try:
                    await self.fire_due()
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
            await self.outbox.drain()
        finally:
            # only now: a refill meanwhile must not queue a second job for this
            # instant (APScheduler would skip it as a concurrent instance)
            self._held.discard(instant)

    # --- triggers ------------------------------------------------------------------

    async def fire_due(self) -> int:
        """Claim every trigger due within the lookahead (or under an expired claim),
        judge it, fan it out; send what is due, prepare the rest.

        Claiming the triggers, fanning them out and claiming the new deliveries
        for this process happen in one transaction, so the messages can go out
        right after it commits (or at their instant); should this process die
        before they are acknowledged, their leases expire and any replica sends
        them again under the same ``webhook-id``.
        """
        fired = 0
        async with self._fire_lock:
            while True:
                now = self.db.sql_now(self.clock())
                began = time.perf_counter()
                async with self.db.session() as session:
                    claimed = await claims.claim_due(
                        session,
                        trigger_store.QUEUE,
                        owner=self.owner,
                        now=now,
                        lease=self.lease,
                        limit=CLAIM_BATCH,
                        ahead=self._ahead,
                    )
                    if not claimed:
                        break
                    count, ready, lifecycle, prepared = await self._fan_out(session, claimed)
                cost = (time.perf_counter() - began) / len(claimed)
                self._seconds_per_trigger += 0.3 * (cost - self._seconds_per_trigger)
                fired += count
                for delivery, sub in ready:
                    self.outbox.send(delivery, sub)
                self.prepared.hold(prepared)
                if lifecycle:
                    # told after the claim lock is released: announcing (NOTIFY on
                    # PostgreSQL) must not delay the next due triggers
                    self._spawn(self._announce(lifecycle))
                if len(claimed) < CLAIM_BATCH:
                    break
        self.fired_total += fired
        return fired

    def _release_prepared(self, due: datetime, items: list[Prepared]) -> None:
        """A prepared instant has come: send its messages, then book the triggers."""
        for item in items:
            for delivery, sub, signed in item.sends:
                self.outbox.send(delivery, sub, signed)
        now = self.clock()
        late = max(0.0, (now - due).total_seconds())
        for item in items:
            self._fired.append(self._booked(item.trigger, item.state, now, late))
            if item.lifecycle is not None:
                self._fired_events.append(item.lifecycle)
        self.fired_total += sum(item.state is TriggerState.FIRED for item in items)
        if self._finisher is None or self._finisher.done():
            self._finisher = self._spawn(self._finish_fired())

    def _booked(
        self, trigger: Trigger, state: TriggerState, now: datetime, late: float
    ) -> dict[str, Any]:
        """Count and log a trigger's outcome; returns the row that completes its claim."""
        fired = state is TriggerState.FIRED
        self.metrics.triggers.labels(trigger.type, state.value).inc()
        if fired:
            self.last_fire_lag = late
            self.metrics.fire_lateness.observe(late)
        level = logging.INFO if fired else logging.WARNING
        if logger.isEnabledFor(level):  # ~10,000 a second in a burst
            logger.log(
                level,
                "trigger %s %s (%.3f s late)",
                trigger.id,
                state.value,
                late,
                extra={"action": "fire", "event_id": trigger.event_id},
            )
        return {
            "row_id": trigger.id,
            "owner": self.owner,
            "claim": trigger.claim_attempt,
            "new_state": state.value,
            "fired_at": now,
            "late": late,
        }

    async def _finish_fired(self) -> None:
        """Announce the starts and ends that came and record sent triggers as
        fired, in batches, at a quiet moment (after a burst's messages are out).
        Until it is written a trigger stays claimed by this process (its lease
        renewed); on failure it is tried again."""
        while self._fired or self._fired_events:
            if not self._stopping:
                await self._quiet()
            if self._fired_events:
                events, self._fired_events = self._fired_events, []
                await self._announce(events)
            if not self._fired:
                continue
            rows, self._fired = self._fired[:CLAIM_BATCH], self._fired[CLAIM_BATCH:]
            try:
                async with self.db.session() as session:
                    await trigger_store.finish_claims(session, rows)
            except Exception:
                logger.exception("recording fired triggers failed", extra={"action": "fire"})
                self._fired[:0] = rows
                if self._stopping:
                    return  # the claims expire and are taken over; their messages went out
                await asyncio.sleep(1.0)

    async def _quiet(self) -> None:
        """Wait for a moment when bookkeeping does not hold up sending: no prepared
        message due in a moment (see ``prepared``), no burst still going out."""
        await asyncio.sleep(0)  # and let writes arriving alongside join the batch
        await self.prepared.until_quiet(WRITE_WAIT_SECONDS)
        await self.outbox.caught_up()

    async def _quiet_for_outcomes(self) -> None:
        """As :meth:`_quiet`, but a receiver slow to answer does not hold up the
        outcomes (and so the retries) of the others."""
        await asyncio.sleep(0)
        await self.prepared.until_quiet(WRITE_WAIT_SECONDS)
        await self.outbox.caught_up(slow_after=BURST_SETTLE_SECONDS)

    def withdraw(self, event_id: str) -> None:
        """An event changed: drop what was prepared for it (its change has taken the
        triggers back in the database; they are prepared again from the new data)."""
        dropped = self.prepared.withdraw(lambda p: p.trigger.event_id != event_id)
        if dropped:
            logger.info(
                "withdrew %d prepared triggers of a changed event",
                len(dropped),
                extra={"action": "fire", "event_id": event_id},
            )

    def subscription_changed(self, sub_id: str, sub: Subscription | None) -> None:
        """A webhook was changed (``None``: deleted) through this process: messages
        prepared for it go out to it as it now is (or not at all)."""
        self.prepared.replace_subscription(sub_id, sub)

    async def revalidate(self) -> None:
        """Keep only prepared triggers still claimed by this process under the same
        claim (after missed notifications, a change may have taken some back)."""
        held = self.prepared.held()
        if not held:
            return
        try:
            async with self.db.session() as session:
                still = await claims.still_held(
                    session, trigger_store.QUEUE, owner=self.owner, attempts=held
                )
        except Exception:
            logger.exception("checking prepared triggers failed", extra={"action": "fire"})
            return
        self.prepared.withdraw(lambda p: p.trigger.id in still)

    async def _give_back(self, items: list[Prepared]) -> None:
        """Stopping: return prepared, unsent triggers so that any process can
        prepare them at once (instead of after their lease)."""
        if not items:
            return
        try:
            async with self.db.session() as session:
                await trigger_store.release_prepared(
                    session,
                    now=self.clock(),
                    trigger_ids=[p.trigger.id for p in items],
                    owner=self.owner,
                    rearm=False,
                )
        except Exception:
            logger.exception("returning prepared triggers failed", extra={"action": "shutdown"})

    async def _announce(self, lifecycle_events: list[Event]) -> None:
        for listener in self.lifecycle_listeners:
            try:
                await listener(lifecycle_events)
            except Exception:
                logger.exception("lifecycle listener failed", extra={"action": "fire"})

    async def _fan_out(
        self, session: Any, claimed: Sequence[Trigger]
    ) -> tuple[int, list[tuple[Delivery, Subscription]], list[Event], list[Prepared]]:
        """Judge claimed triggers and write their deliveries, claimed by this process.

        A trigger due now is judged now, completed in this transaction and its
        messages returned ready; one due later is judged as of its due time and,
        if it fires, returned prepared: its messages go out and it is completed
        at its instant (``_release_prepared``).
        """
        fired = 0
        subscribers: dict[str, Subscription] = {}
        event_ids = list({t.event_id for t in claimed})
        rows = await session.execute(select(Event).where(col(Event.id).in_(event_ids)))
        events = {e.id: e for e in rows.scalars().all()}
        audience: dict[tuple[str, str | None], list[Subscription]] = {}
        new_deliveries: list[dict[str, Any]] = []
        lifecycle_events: list[Event] = []
        completions: list[dict[str, Any]] = []
        prepared: dict[str, Prepared] = {}
        for trigger in claimed:
            event = events.get(trigger.event_id)
            now = self.clock()
            ahead = trigger.due_at > now
            at = trigger.due_at if ahead else now  # judged as of its own time
            verdict = judge(
                type_=EventType(trigger.type),
                due_at=trigger.due_at,
                now=at,
                grace_seconds=self.settings.trigger_grace_seconds,
                event_status=event.status if event else None,
                event_start=event.start_utc if event else None,
                actual_start=event.actual_start if event else None,
                actual_end=event.actual_end if event else None,
            )
            late = max(0.0, (at - trigger.due_at).total_seconds())
            lifecycle = trigger.type in (EventType.STARTED, EventType.ENDED) and event is not None
            if ahead:
                # completed at its instant, when a start or end also changes the
                # event's state (an overrun begins at the scheduled end, say)
                prepared[trigger.id] = Prepared(
                    trigger, VERDICT_STATE[verdict], lifecycle=event if lifecycle else None
                )
            else:
                # claimed in this very transaction: the claim is still ours
                completions.append(self._booked(trigger, VERDICT_STATE[verdict], now, late))
                if lifecycle and event is not None:
                    lifecycle_events.append(event)
                fired += verdict is Verdict.FIRE
            if verdict is not Verdict.FIRE or event is None:
                continue
            key = (trigger.type, event.channel)
            if key not in audience:
                audience[key] = await subscription_store.matching(
                    session, trigger.type, event.channel
                )
            body = build_body(
                type_=trigger.type,
                now=at,
                event=event_public(event, now=at),
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
                        # claimed for this process from birth: sent right after
                        # commit, or at its instant if prepared ahead
                        "state": DeliveryState.DELIVERING.value,
                        "claimed_by": self.owner,
                        "claim_expires_at": at + self.lease,
                        "claim_attempt": 1,
                        "attempts": 0,
                        "next_attempt_at": at,
                        "created_at": now,
                    }
                )
        await trigger_store.finish_claims(session, completions)
        inserted = await delivery_store.insert_new(session, new_deliveries)
        # a delivery that already existed (a trigger fanned out again after a
        # crash) is not ours to send: the ordinary drain picks it up. The rows
        # were validated when built; model_construct skips validating them again
        # (~30 us each, which matters at 10,000 per burst).
        ready: list[tuple[Delivery, Subscription]] = []
        for row in new_deliveries:
            if row["id"] not in inserted:
                continue
            delivery = Delivery.model_construct(**row)
            sub = subscribers[row["subscription_id"]]
            item = prepared.get(row["trigger_id"])
            if item is None:
                ready.append((delivery, sub))
                continue
            # signed now, not in the instant's rush: the due time is its timestamp
            due = item.trigger.due_at
            signed = sign_headers(
                msg_id=delivery.id,
                timestamp=due,
                body=delivery.payload,
                secrets_=signing_secrets(sub, due),
            )
            item.sends.append((delivery, sub, signed))
        return fired, ready, lifecycle_events, list(prepared.values())


async def _tick() -> None:
    """Does nothing: its only job is to keep APScheduler's timer short (see TICK_SECONDS)."""
