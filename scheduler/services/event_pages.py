"""Event pages: ``GET /api/events`` and ``GET /api/events/{id}`` kept as bytes.

A page of events is read far more often than events change, so each answer
is built once (rows, triggers, links, local times, JSON) and kept, keyed by
what was asked (filters, cursor, limit, the base URL its links use), until
something on it can change:

- any committed change to an event, made here or heard through the change
  routing from another process, forgets every kept page (a change can move an
  event into or out of any list);
- the clock: a page is kept only until the next instant at which one of its
  events changes state (its start or end) or one of its triggers can change
  state (a trigger is claimed at most ``scheduler_horizon_seconds`` before it
  is due, by this or any replica, and announces nothing); a page holding a
  trigger that is due that soon, or overdue and not yet settled, is not kept;
- lists filtered by ``status`` are never kept: events that are not on the page
  enter it as the clock moves.

Kept answers are bounded in total bytes (least recently used first out), so a
client varying its queries cannot grow the process.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from scheduler.etags import entity_tag
from scheduler.models import Event, EventPage, Trigger, TriggerState
from scheduler.models.changes import Change, ChangeKind
from scheduler.representation import event_model
from scheduler.services.events import EventService
from scheduler.services.single_flight import SingleFlight
from scheduler.store.events import EventFilter
from scheduler.timezones import Clock

#: total bytes of kept answers (a 50-event page is ~80 KB)
MAX_BYTES = 32 * 1024 * 1024
#: trigger states that can still change without a change to their event
UNSETTLED = frozenset({TriggerState.PENDING.value, TriggerState.CLAIMED.value})


@dataclass(frozen=True)
class KeptAnswer:
    body: bytes
    #: a list page: a strong tag of these bytes; one event: its entity tag (the
    #: version of the row, for If-Match), as the API has always answered
    etag: str
    #: when the clock may change what this answer says; None: only a change can
    valid_until: datetime | None


class EventPages:
    def __init__(
        self,
        events: EventService,
        clock: Clock,
        *,
        claim_ahead: timedelta,
        max_bytes: int = MAX_BYTES,
    ) -> None:
        self.events = events
        self.clock = clock
        self.claim_ahead = claim_ahead
        self.max_bytes = max_bytes
        self._kept: OrderedDict[Hashable, KeptAnswer] = OrderedDict()
        self._bytes = 0
        self._generation = 0
        self._building: SingleFlight[KeptAnswer] = SingleFlight()
        self.builds = 0  # answers built (for tests and benchmarks)

    async def listing(
        self, filters: EventFilter, *, cursor: str | None, limit: int | None, base_url: str
    ) -> KeptAnswer:
        """A page of ``GET /api/events``."""

        async def build() -> tuple[KeptAnswer, bool]:
            page = await self.events.list_page(filters, cursor=cursor, limit=limit)
            triggers = await self.events.triggers_for([e.id for e in page.items])
            now = self.clock()
            items = [
                event_model(e, now=now, triggers=triggers[e.id], base_url=base_url)
                for e in page.items
            ]
            model = EventPage.model_construct(items=items, next_cursor=page.next_cursor)
            body = model.__pydantic_serializer__.to_json(model)
            etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
            valid_until = self._valid_until(page.items, triggers, now)
            answer = KeptAnswer(body, etag, valid_until)
            return answer, filters.state is None and self._keepable(answer, now)

        key = ("list", filters, cursor, limit, base_url)
        return await self._answer(key, build)

    async def event(self, event_id: str, *, base_url: str) -> KeptAnswer:
        """``GET /api/events/{id}`` (raises NotFound for an unknown id)."""

        async def build() -> tuple[KeptAnswer, bool]:
            event = await self.events.get(event_id)
            triggers = await self.events.triggers_for([event.id])
            now = self.clock()
            model = event_model(event, now=now, triggers=triggers[event.id], base_url=base_url)
            body = model.__pydantic_serializer__.to_json(model)
            answer = KeptAnswer(body, entity_tag(event), self._valid_until([event], triggers, now))
            return answer, self._keepable(answer, now)

        return await self._answer(("event", event_id, base_url), build)

    async def on_change(self, change: Change) -> None:
        """Listener on the change routing: any event change may touch any page."""
        if change.kind.about_event or change.kind is ChangeKind.RESYNC:
            self._generation += 1
            self._kept.clear()
            self._bytes = 0

    # --- keeping ---------------------------------------------------------------------

    async def _answer(
        self, key: Hashable, build: Callable[[], Awaitable[tuple[KeptAnswer, bool]]]
    ) -> KeptAnswer:
        kept = self._kept.get(key)
        if kept is not None:
            if kept.valid_until is None or self.clock() < kept.valid_until:
                self._kept.move_to_end(key)
                return kept
            self._forget(key)

        async def build_and_keep() -> KeptAnswer:
            generation = self._generation
            answer, keep = await build()
            self.builds += 1
            if keep and generation == self._generation:
                self._keep(key, answer)
            return answer

        return await self._building.run(key, build_and_keep)

    def _keepable(self, answer: KeptAnswer, now: datetime) -> bool:
        fits = len(answer.body) <= self.max_bytes // 4
        return fits and (answer.valid_until is None or now < answer.valid_until)

    def _keep(self, key: Hashable, answer: KeptAnswer) -> None:
        self._forget(key)
        self._kept[key] = answer
        self._bytes += len(answer.body)
        while self._bytes > self.max_bytes and self._kept:
            _old, dropped = self._kept.popitem(last=False)
            self._bytes -= len(dropped.body)

    def _forget(self, key: Hashable) -> None:
        dropped = self._kept.pop(key, None)
        if dropped is not None:
            self._bytes -= len(dropped.body)

    def _valid_until(
        self, events: Sequence[Event], triggers: dict[str, list[Trigger]], now: datetime
    ) -> datetime | None:
        """The first instant after ``now`` at which the clock alone may change
        what these events look like (``now`` itself: it may change already)."""
        moments: list[datetime] = []
        for event in events:
            moments += [t for t in (event.start_utc, event.end_utc) if t > now]
            for trigger in triggers.get(event.id, ()):
                if trigger.state in UNSETTLED:
                    moments.append(max(trigger.due_at - self.claim_ahead, now))
        return min(moments, default=None)
