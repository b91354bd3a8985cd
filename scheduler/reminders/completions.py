"""Completing triggers: what a trigger became, counted, logged and written.

A trigger due when claimed is completed in the claiming transaction; one
prepared ahead is completed at its instant, once its messages are handed to
the senders: the completions (and the starts and ends to announce) are then
written in batches at a quiet moment, after the instant's burst is out. Until
written, a trigger stays claimed by this process (its lease renewed); on
failure the write is tried again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from scheduler.metrics import Metrics
from scheduler.models import Event, Trigger, TriggerState
from scheduler.reminders.prepared import Prepared
from scheduler.store import triggers as trigger_store
from scheduler.store.database import Database
from scheduler.timezones import Clock

logger = logging.getLogger(__name__)

BATCH = 500  # completions per statement


@dataclass(frozen=True, slots=True)
class Completion:
    """A claimed trigger's end: the row that completes its claim."""

    trigger: Trigger
    owner: str
    state: TriggerState
    at: datetime
    late: float

    def row(self) -> dict[str, Any]:
        return {
            "row_id": self.trigger.id,
            "owner": self.owner,
            "claim": self.trigger.claim_attempt,
            "new_state": self.state.value,
            "fired_at": self.at,
            "late": self.late,
        }


class Completions:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        metrics: Metrics,
        *,
        owner: str,
        quiet: Callable[[], Awaitable[None]],
        announce: Callable[[list[Event]], Awaitable[None]],
        spawn: Callable[[Any], asyncio.Task[Any]],
    ) -> None:
        self.db = db
        self.clock = clock
        self.metrics = metrics
        self.owner = owner
        self._quiet = quiet
        self._announce = announce
        self._spawn = spawn
        self._rows: list[dict[str, Any]] = []  # completions of sent triggers, to write
        self._events: list[Event] = []  # their starts and ends, to announce
        self._writer: asyncio.Task[None] | None = None
        self.stopping = False
        self.last_fire_lag: float | None = None
        self.fired_total = 0

    def complete(
        self, trigger: Trigger, state: TriggerState, at: datetime, late: float
    ) -> Completion:
        """Count and log a trigger's end; returns its completion."""
        fired = state is TriggerState.FIRED
        self.metrics.triggers.labels(trigger.type, state.value).inc()
        if fired:
            self.fired_total += 1
            self.last_fire_lag = late
            self.metrics.fire_lateness.observe(late)
        level = logging.DEBUG if fired else logging.WARNING
        if logger.isEnabledFor(level):  # ~10,000 a second in a burst
            logger.log(
                level,
                "trigger %s %s (%.3f s late)",
                trigger.id,
                state.value,
                late,
                extra={"action": "fire", "event_id": trigger.event_id},
            )
        return Completion(trigger, self.owner, state, at, late)

    def came(self, due: datetime, items: Sequence[Prepared]) -> None:
        """Prepared triggers' instant has come and their messages are handed over:
        complete them (written later, at a quiet moment)."""
        now = self.clock()
        late = max(0.0, (now - due).total_seconds())
        for item in items:
            self._rows.append(self.complete(item.trigger, item.state, now, late).row())
            if item.lifecycle is not None:
                self._events.append(item.lifecycle)
        if self._writer is None or self._writer.done():
            self._writer = self._spawn(self._write())

    async def wait(self, grace: float) -> None:
        if self._writer is not None and not self._writer.done():
            await asyncio.wait({self._writer}, timeout=grace)

    async def _write(self) -> None:
        while self._rows or self._events:
            if not self.stopping:
                await self._quiet()
            if self._events:
                events, self._events = self._events, []
                await self._announce(events)
            if not self._rows:
                continue
            rows, self._rows = self._rows[:BATCH], self._rows[BATCH:]
            try:
                async with self.db.session() as session:
                    await trigger_store.finish_claims(session, rows)
            except Exception:
                logger.exception("recording fired triggers failed", extra={"action": "fire"})
                self._rows[:0] = rows
                if self.stopping:
                    return  # the claims expire and are taken over; their messages went out
                await asyncio.sleep(1.0)
