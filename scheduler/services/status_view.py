"""The status view: "is it live?" answered from memory, not a query per request.

A stream's status is a function of its event row and the clock
(``scheduler.status``), so this process keeps the rows that matter in memory
and derives the status per request:

- the *near* set: every event scheduled to start between ``behind`` ago and
  ``window`` ahead, and every stream an operator started and has not ended
  (both read through an index). Loaded at start, reloaded
  every ``RELOAD_SECONDS`` as time moves on (the window ahead is far wider
  than the reload period, so an event enters it long before it can go live), and
  kept current between reloads by the change routing, on every replica;
- a bounded cache (least recently used, ``capacity`` entries) of the other
  rows asked for, and of ids that do not exist (so a scan of random ids costs
  each id one lookup); at most ``lookups`` such lookups run at once, so a scan
  cannot take more of the database than that.

A change to an event replaces its row wherever it is held; a ``resync``
(changes may have been missed) reloads the near set and empties the cache.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from datetime import timedelta

from scheduler.exceptions import NotFound
from scheduler.inputs import looks_like_id
from scheduler.models import Event
from scheduler.models.changes import Change, ChangeKind
from scheduler.representation import lifecycle_of
from scheduler.services.single_flight import SingleFlight
from scheduler.status import CANCELLED, State
from scheduler.store import events as event_store
from scheduler.store import live as live_store
from scheduler.store.database import Database
from scheduler.timezones import Clock

logger = logging.getLogger(__name__)

WINDOW = timedelta(hours=1)  # ahead: far more than RELOAD_SECONDS, so nothing starts unseen
#: how far back the near set reaches: a scheduled stream longer than this (not
#: started by an operator) is answered from the bounded cache after this long
#: and is missing from ``/api/live``
BEHIND = timedelta(days=7)
RELOAD_SECONDS = 300.0
CAPACITY = 10_000
LOOKUPS = 4

_MISSING = None  # a cached "no such event"


class StatusView:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        *,
        window: timedelta = WINDOW,
        behind: timedelta = BEHIND,
        capacity: int = CAPACITY,
        lookups: int = LOOKUPS,
    ) -> None:
        self.db = db
        self.clock = clock
        self.window = window
        self.behind = behind
        self.capacity = capacity
        self._near: dict[str, Event] = {}
        self._cache: OrderedDict[str, Event | None] = OrderedDict()
        self._lookups = asyncio.Semaphore(lookups)
        self._loading: SingleFlight[Event | None] = SingleFlight()
        self._generation = 0  # raised by every change: a lookup begun before it is stale
        self._during_reload: dict[str, Event | None] | None = None
        self.loaded = False
        self.database_lookups = 0

    async def reload(self) -> None:
        """Load the near set afresh (at start, then every ``RELOAD_SECONDS``)."""
        self._during_reload = {}
        try:
            async with self.db.session() as session:
                rows = await live_store.near(
                    session, now=self.clock(), ahead=self.window, behind=self.behind
                )
            fresh = {e.id: e for e in rows}
            # changes heard while loading are at least as new as the rows read
            for event_id, event in self._during_reload.items():
                if event is not None and self._is_near(event):
                    fresh[event_id] = event
                else:
                    fresh.pop(event_id, None)
            self._near = fresh
            self.loaded = True
        finally:
            self._during_reload = None

    async def get(self, event_id: str) -> Event:
        """The event's row as last committed, or :class:`NotFound`."""
        event = self._near.get(event_id)
        if event is not None:
            return event
        if event_id in self._cache:
            self._cache.move_to_end(event_id)
            cached = self._cache[event_id]
        else:
            cached = await self._lookup(event_id)
        if cached is None:
            raise NotFound(f"no event with id {event_id!r}")
        return cached

    async def _lookup(self, event_id: str) -> Event | None:
        if not looks_like_id(event_id):
            return None  # not even shaped like an id: no query, nothing to remember

        async def look_up() -> Event | None:
            generation = self._generation
            async with self._lookups:
                self.database_lookups += 1
                async with self.db.session() as session:
                    event = await event_store.get(session, event_id)
            if generation == self._generation:
                self._remember(event_id, event)
            return event

        return await self._loading.run(event_id, look_up)

    def _remember(self, event_id: str, event: Event | None) -> None:
        self._cache[event_id] = event
        self._cache.move_to_end(event_id)
        while len(self._cache) > self.capacity:
            self._cache.popitem(last=False)

    def live(self) -> list[Event]:
        """Every event live now, by start."""
        now = self.clock()
        live = [e for e in self._near.values() if lifecycle_of(e, now).state is State.LIVE]
        return sorted(live, key=lambda e: (e.start_utc, e.id))

    async def on_change(self, change: Change) -> None:
        """Listener on the change routing: hold each event as last committed."""
        self._generation += 1
        if change.kind is ChangeKind.RESYNC:
            self._cache.clear()
            try:
                await self.reload()
            except Exception:
                logger.warning("reloading the status view failed", extra={"action": "live"})
            return
        if not change.kind.about_event:
            return
        event_id, event = change.ref_id, change.event
        if event is not None:
            held = self._near.get(event_id) or self._cache.get(event_id)
            if held is not None and held.sequence > event.sequence:
                # read before a change already held: a dispatcher's ``state``
                # announcement of a start it processed while an operator ended it
                return
        if self._during_reload is not None:
            self._during_reload[event_id] = event
        if event is None:  # deleted
            self._near.pop(event_id, None)
            self._remember(event_id, _MISSING)
            return
        if self._is_near(event):
            self._near[event_id] = event
            self._cache.pop(event_id, None)
        else:
            self._near.pop(event_id, None)
            if event_id in self._cache:
                self._remember(event_id, event)

    def _is_near(self, event: Event) -> bool:
        now = self.clock()
        if event.actual_start is not None and event.actual_end is None:
            return event.status != CANCELLED
        return now - self.behind <= event.start_utc <= now + self.window
