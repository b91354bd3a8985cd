"""Messages prepared ahead of their instant, held in memory until it comes.

The dispatcher claims triggers up to ``dispatch_lookahead_seconds`` before they
fall due, writes their deliveries (claimed by this process: should it die, the
leases expire and another process sends them under the same ``webhook-id``),
and hands them here. At the instant, one bare ``loop.call_at`` per instant
releases them to be sent: no database round trip and no APScheduler job
(~50 us each) stands between the due time and the POST.

Timers are armed twice: a loop timer set seconds ahead wakes late by about
0.1 % of its delay, so a first timer wakes ``REARM_BEFORE`` early and sets the
exact one. Writers that can wait (attempt outcomes, trigger completions) call
:meth:`PreparedMessages.until_quiet` first, so their statements do not hold
the event loop while a prepared message is about to go out.
"""

from __future__ import annotations

import asyncio
import heapq
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from scheduler.models import Event, Subscription, Trigger, TriggerState
from scheduler.reminders.messages import Message
from scheduler.timezones import Clock

REARM_BEFORE = 0.05  # seconds: the first timer wakes this early and sets the exact one
QUIET_MARGIN = 0.05  # seconds: a writer waits while a prepared send is due this soon,
# or was released this recently (its request may still be on its way out)


@dataclass
class Prepared:
    """One claimed trigger and its messages, ready to go at ``trigger.due_at``."""

    trigger: Trigger
    state: TriggerState  # what it becomes at its instant (fired, or why not)
    # each message with its headers, signed ahead with the due time as timestamp
    sends: list[Message] = field(default_factory=list)
    lifecycle: Event | None = None  # a scheduled start or end changes the event's state


class PreparedMessages:
    def __init__(self, clock: Clock, on_due: Callable[[datetime, list[Prepared]], None]) -> None:
        self._clock = clock
        self._on_due = on_due
        self._items: dict[str, Prepared] = {}  # trigger id -> prepared
        self._at: dict[datetime, list[str]] = {}  # due instant -> trigger ids
        self._timers: dict[datetime, asyncio.TimerHandle] = {}
        self._instants: list[datetime] = []  # heap of instants; stale entries skipped
        self._released_at = float("-inf")  # loop time of the latest release

    def __len__(self) -> int:
        return len(self._items)

    def delivery_ids(self) -> set[str]:
        """Ids of the held messages' deliveries (claimed by this process)."""
        return {m.delivery.id for item in self._items.values() for m in item.sends}

    def held(self) -> dict[str, int]:
        """Trigger id -> the claim attempt it was prepared under."""
        return {tid: p.trigger.claim_attempt for tid, p in self._items.items()}

    def hold(self, items: Sequence[Prepared]) -> None:
        for item in items:
            due = item.trigger.due_at
            self._items[item.trigger.id] = item
            self._at.setdefault(due, []).append(item.trigger.id)
            if due not in self._timers:
                heapq.heappush(self._instants, due)
                self._arm(due)

    def _arm(self, due: datetime) -> None:
        loop = asyncio.get_running_loop()
        delay = (due - self._clock()).total_seconds()
        if delay > 2 * REARM_BEFORE:
            self._timers[due] = loop.call_later(delay - REARM_BEFORE, self._arm, due)
        else:
            self._timers[due] = loop.call_later(max(delay, 0.0), self._release, due)

    def _release(self, due: datetime) -> None:
        self._timers.pop(due, None)
        self._released_at = asyncio.get_running_loop().time()
        items = [self._items.pop(tid) for tid in self._at.pop(due, []) if tid in self._items]
        if items:
            self._on_due(due, items)

    def withdraw(self, keep: Callable[[Prepared], bool] = lambda _: False) -> list[Prepared]:
        """Drop (and return) every held item for which ``keep`` is false."""
        gone = [p for p in self._items.values() if not keep(p)]
        for item in gone:
            del self._items[item.trigger.id]
        for due in {p.trigger.due_at for p in gone}:
            if not any(tid in self._items for tid in self._at.get(due, [])):
                self._at.pop(due, None)
                timer = self._timers.pop(due, None)
                if timer is not None:
                    timer.cancel()
        return gone

    def replace_subscription(self, sub_id: str, sub: Subscription | None) -> None:
        """A webhook changed (``None``: deleted): held messages use it as it is now,
        signed again when sent (its secret may have changed)."""
        for item in self._items.values():
            if any(m.sub is not None and m.sub.id == sub_id for m in item.sends):
                others = [m for m in item.sends if m.sub is None or m.sub.id != sub_id]
                mine = [
                    Message(m.delivery, sub)
                    for m in item.sends
                    if sub is not None and m.sub is not None and m.sub.id == sub_id
                ]
                item.sends = others + mine

    def next_instant(self) -> datetime | None:
        while self._instants and self._instants[0] not in self._timers:
            heapq.heappop(self._instants)
        return self._instants[0] if self._instants else None

    async def until_quiet(self, limit: float) -> None:
        """Return once no prepared message is due within ``QUIET_MARGIN``, or
        after ``limit`` seconds at most."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            upcoming = self.next_instant()
            gap = float("inf") if upcoming is None else (upcoming - self._clock()).total_seconds()
            since = loop.time() - self._released_at
            if gap > QUIET_MARGIN and since > QUIET_MARGIN:
                return
            wait = max(gap, 0.0) + 0.002 if gap <= QUIET_MARGIN else QUIET_MARGIN - since
            await asyncio.sleep(min(wait, remaining))
