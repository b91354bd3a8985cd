"""Is the service healthy? What operators and load balancers ask.

``status`` gathers the parts (database round trip, writes, scheduler,
backlog, lateness, deliveries stuck under an expired claim) and names the
failing ones; ``ready`` is the narrower question an orchestrator asks before
sending traffic: database reachable, migrated, and taking writes.

Writes are judged from what the service's own sessions saw (the database
records refused writes and commits); once writes were refused, each check
tries a harmless write of its own, so a database that recovers while the
service is idle is seen to recover.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from scheduler import __version__
from scheduler.config import Settings
from scheduler.exceptions import StoreUnavailable
from scheduler.metrics import Metrics
from scheduler.reminders.dispatch import Dispatcher
from scheduler.store import claims
from scheduler.store import deliveries as delivery_store
from scheduler.store import events as event_store
from scheduler.store import triggers as trigger_store
from scheduler.store.database import Database
from scheduler.timezones import Clock, isoformat_utc

DB_TIMEOUT = 3.0  # a database that does not answer a trivial query in this time is down


@dataclass(frozen=True)
class Health:
    healthy: bool
    body: dict[str, Any]


class HealthService:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        clock: Clock,
        dispatcher: Dispatcher | None,
        metrics: Metrics,
    ) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        self.dispatcher = dispatcher
        self.metrics = metrics
        self.started = time.monotonic()

    async def _database(self) -> tuple[bool, dict[str, Any]]:
        began = time.perf_counter()
        try:
            await asyncio.wait_for(self.db.ping(), DB_TIMEOUT)
        except (StoreUnavailable, TimeoutError) as err:
            return False, {"ok": False, "dialect": self.db.dialect, "error": str(err) or "timeout"}
        rtt = (time.perf_counter() - began) * 1000
        return True, {"ok": True, "dialect": self.db.dialect, "round_trip_ms": round(rtt, 2)}

    async def _writes(self) -> tuple[bool, dict[str, Any]]:
        """Whether writes go through; after refused ones, a probe write decides."""
        writes = self.db.writes
        if writes.failing:
            # a refusal is recorded by the database itself
            with contextlib.suppress(StoreUnavailable, TimeoutError):
                await asyncio.wait_for(self.db.probe_write(), DB_TIMEOUT)
        return not writes.failing, writes.describe()

    async def ready(self) -> Health:
        failing: list[str] = []
        ok, database = await self._database()
        if ok:
            try:
                current = await asyncio.wait_for(self.db.is_current(), DB_TIMEOUT)
            except (StoreUnavailable, TimeoutError):
                current = False
            database["migrated"] = current
            ok = current
        if not ok:
            failing.append("database")
        body: dict[str, Any] = {"database": database}
        if ok:
            writes_ok, body["writes"] = await self._writes()
            if not writes_ok:
                failing.append("writes")
        return Health(not failing, {"ready": not failing, "failing": failing, **body})

    async def status(self) -> Health:
        now = self.clock()
        failing: list[str] = []
        ok, database = await self._database()
        if not ok:
            failing.append("database")
        dispatcher = self.dispatcher
        running = dispatcher is not None and dispatcher.running
        if not running:
            failing.append("scheduler")
        next_fire = dispatcher.next_fire_time() if dispatcher else None
        scheduler: dict[str, Any] = {
            "running": running,
            "owner": dispatcher.owner if dispatcher else None,
            "jobs": dispatcher.jobs_held() if dispatcher else 0,
            "next_fire_time": isoformat_utc(next_fire) if next_fire else None,
            "last_fire_lag_seconds": dispatcher.last_fire_lag if dispatcher else None,
            "fired": dispatcher.fired_total if dispatcher else 0,
        }
        body: dict[str, Any] = {
            "version": __version__,
            "uptime_seconds": round(time.monotonic() - self.started, 1),
            "now": isoformat_utc(now),
            "database": database,
            "scheduler": scheduler,
        }
        if ok:
            writes_ok, body["writes"] = await self._writes()
            if not writes_ok:
                failing.append("writes")
            # an expired claim is taken over at the next refill by any dispatcher;
            # one still there two refills later is stuck
            grace = timedelta(seconds=2 * self.settings.scheduler_refill_seconds)
            try:
                async with self.db.session() as session:
                    pending, oldest = await trigger_store.backlog(session, now=now)
                    by_state = await claims.count_by_state(session, delivery_store.QUEUE)
                    retrying = await delivery_store.retrying(session)
                    stuck, stuck_since = await delivery_store.stuck(
                        session, before=self.db.sql_now(now) - grace
                    )
            except StoreUnavailable as err:
                failing.append("database")
                database.update(ok=False, error=str(err))
            else:
                overdue = (now - oldest).total_seconds() if oldest else 0.0
                body["triggers"] = {
                    "pending": pending,
                    "oldest_overdue": isoformat_utc(oldest) if oldest else None,
                    "overdue_seconds": round(overdue, 3),
                }
                body["deliveries"] = {
                    "pending": by_state.get("pending", 0) - retrying,
                    "retrying": retrying,
                    "delivering": by_state.get("delivering", 0),
                    "succeeded": by_state.get("succeeded", 0),
                    "dead": by_state.get("dead", 0),
                    "stuck": stuck,
                    "stuck_since": isoformat_utc(stuck_since) if stuck_since else None,
                }
                if stuck:
                    failing.append("deliveries")
                if overdue > self.settings.status_overdue_seconds:
                    failing.append("triggers")
        body["healthy"] = not failing
        body["failing"] = failing
        return Health(not failing, body)

    async def refresh_gauges(self) -> None:
        """Bring the database-derived gauges up to date (at scrape time)."""
        try:
            async with self.db.session() as session:
                now = self.clock()
                events = await event_store.count_by_state(session, now=now)
                pending, _ = await trigger_store.backlog(session, now=now)
                deliveries = await claims.count_by_state(session, delivery_store.QUEUE)
        except StoreUnavailable:
            return
        for state, count in events.items():
            self.metrics.events.labels(state).set(count)
        self.metrics.pending_triggers.set(pending)
        for state in ("pending", "delivering", "succeeded", "dead"):
            self.metrics.deliveries_by_state.labels(state).set(deliveries.get(state, 0))
