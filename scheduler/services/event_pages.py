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
client varying its queries cannot grow the process. The keeping itself is
``services.kept_bytes``, shared with the public HTML pages.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from datetime import datetime, timedelta

from scheduler.etags import entity_tag
from scheduler.models import Event, EventPage, Trigger, TriggerState
from scheduler.models.changes import Change, ChangeKind
from scheduler.representation import event_model
from scheduler.services.events import EventService
from scheduler.services.kept_bytes import Kept, KeptBytes
from scheduler.store.events import EventFilter
from scheduler.timezones import Clock

#: total bytes of kept answers (a 50-event page is ~80 KB)
MAX_BYTES = 32 * 1024 * 1024
#: trigger states that can still change without a change to their event
UNSETTLED = frozenset({TriggerState.PENDING.value, TriggerState.CLAIMED.value})

#: a list page: a strong tag of its bytes; one event: its entity tag (the version
#: of the row, for If-Match), as the API has always answered
KeptAnswer = Kept


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
        self.kept = KeptBytes(clock, max_bytes=max_bytes)

    @property
    def builds(self) -> int:
        """Answers built (for tests and benchmarks)."""
        return self.kept.builds

    async def listing(
        self, filters: EventFilter, *, cursor: str | None, limit: int | None, base_url: str
    ) -> KeptAnswer:
        """A page of ``GET /api/events``."""

        async def build() -> KeptAnswer:
            page = await self.events.list_page(filters, cursor=cursor, limit=limit)
            triggers = await self.events.triggers_for([e.id for e in page.items])
            now = self.clock()
            items = [
                event_model(e, now=now, triggers=triggers[e.id], base_url=base_url)
                for e in page.items
            ]
            model = EventPage.model_construct(items=items, next_cursor=page.next_cursor)
            body = model.__pydantic_serializer__.to_json(model)
            valid_until = self._valid_until(page.items, triggers, now)
            return Kept(body, valid_until, keep=filters.state is None)

        key: Hashable = ("list", filters, cursor, limit, base_url)
        return await self.kept.get(key, build)

    async def event(self, event_id: str, *, base_url: str) -> KeptAnswer:
        """``GET /api/events/{id}`` (raises NotFound for an unknown id)."""

        async def build() -> KeptAnswer:
            event = await self.events.get(event_id)
            triggers = await self.events.triggers_for([event.id])
            now = self.clock()
            model = event_model(event, now=now, triggers=triggers[event.id], base_url=base_url)
            body = model.__pydantic_serializer__.to_json(model)
            valid_until = self._valid_until([event], triggers, now)
            return Kept(body, valid_until, etag=entity_tag(event))

        return await self.kept.get(("event", event_id, base_url), build)

    async def on_change(self, change: Change) -> None:
        """Listener on the change routing: any event change may touch any page."""
        if change.kind.about_event or change.kind is ChangeKind.RESYNC:
            self.kept.forget_all()

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
