"""The engine's clockwork: the only APScheduler user.

APScheduler only provides timing; the database holds every trigger and
delivery. Interval jobs refill the horizon, renew leases and run periodic
housekeeping; one *prepare* date job is set for the earliest waiting trigger,
and one date job per instant at which a delivery (a retry) falls due.

APScheduler's defaults would silently drop work: ``misfire_grace_time`` is one
second, so every job runs however late (``None``) and lateness is judged by the
engine, where it is recorded rather than lost. The application clock may be
offset from the wall clock (the database's clock, tests): instants are
converted to wall-clock run dates here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Sequence
from datetime import UTC, datetime
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from scheduler.timezones import Clock

TICK_SECONDS = 1.0  # re-arm the timer at least this often: long sleeps wake late (DESIGN.md)

Job = Callable[[], Coroutine[Any, Any, None]]


class Timing:
    def __init__(self, clock: Clock, run: Callable[[Job], Coroutine[Any, Any, None]]) -> None:
        """``run`` wraps every job (the dispatcher tracks them for a clean stop)."""
        self.clock = clock
        self._run = run
        self._scheduler: AsyncIOScheduler | None = None
        self._held: set[datetime] = set()  # instants with a due job, held or running
        self.prepare_at: datetime | None = None  # wall time the prepare job runs
        self.prepare_for: datetime | None = None  # the trigger instant it is for

    @property
    def running(self) -> bool:
        return self._scheduler is not None and self._scheduler.running

    def start(self, *, every: Sequence[tuple[str, float, Job]], first: str | None = None) -> None:
        """Run each ``(name, seconds, job)`` every so often; ``first`` also at once."""
        self._scheduler = AsyncIOScheduler(
            timezone=UTC,
            job_defaults={"misfire_grace_time": None, "coalesce": True, "max_instances": 1},
        )
        for name, seconds, job in every:
            self._scheduler.add_job(
                self._run,
                "interval",
                args=[job],
                seconds=seconds,
                id=name,
                **({"next_run_time": datetime.now(UTC)} if name == first else {}),
            )
        self._scheduler.add_job(_tick, "interval", seconds=TICK_SECONDS, id="tick")
        self._scheduler.start()

    def stop(self) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
        self._held.clear()
        self.prepare_at = self.prepare_for = None

    def _wall(self, instant: datetime) -> datetime:
        real = datetime.now(UTC)
        return max(real, real + (instant - self.clock()))

    def arm_prepare(self, run_at: datetime, for_instant: datetime, job: Job) -> None:
        """Run ``job`` at ``run_at`` (app clock) unless the prepare job already runs
        no later; it is for the trigger due at ``for_instant``."""
        if self._scheduler is None:
            return
        wall = self._wall(run_at)
        if self.prepare_at is not None and self.prepare_at <= wall:
            return
        self.prepare_at, self.prepare_for = wall, for_instant
        self._scheduler.add_job(
            self._prepare, "date", args=[job], run_date=wall, id="prepare", replace_existing=True
        )

    async def _prepare(self, job: Job) -> None:
        # returns at once: a prepare pass may outlast the next job of this id,
        # which APScheduler would skip as a second running instance
        self.prepare_at = self.prepare_for = None
        asyncio.get_running_loop().create_task(self._run(job))

    def hold(self, instant: datetime, job: Job) -> None:
        """Run ``job`` at ``instant`` unless a job for it is already held or running."""
        if self._scheduler is None or instant in self._held:
            return
        self._held.add(instant)

        async def due() -> None:
            try:
                await job()
            finally:
                # only now: a refill meanwhile must not queue a second job for this
                # instant (APScheduler would skip it as a concurrent instance)
                self._held.discard(instant)

        self._scheduler.add_job(
            self._run,
            "date",
            args=[due],
            run_date=self._wall(instant),
            id=f"due:{instant.isoformat()}",
            replace_existing=True,
        )

    def jobs_held(self) -> int:
        return len(self._scheduler.get_jobs()) if self._scheduler else 0

    def next_due(self) -> datetime | None:
        """The earliest instant a held due job (or the prepare job) is for."""
        if self._scheduler is None:
            return None
        times = [
            j.next_run_time
            for j in self._scheduler.get_jobs()
            if j.id.startswith("due:") and j.next_run_time
        ]
        if self.prepare_for is not None:
            times.append(self.prepare_for)
        return min(times) if times else None


async def _tick() -> None:
    """Does nothing: its only job is to keep APScheduler's timer short (see TICK_SECONDS)."""
