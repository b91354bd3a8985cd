"""The feed service: iCal feeds built from cached pieces, served from cached bytes.

Each event's VEVENT is rendered once per version and kept; each feed (all
events, one channel, one event) is assembled once and kept with its ETag
until an event changes or an event ages out of its window. Serving a cached
feed, or answering a revalidation with 304, touches neither the database nor
the renderer. Rendering runs in a worker thread, off the event loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import format_datetime

from scheduler.calendar.render import CalendarMeta, Piece, render_feed, render_vevent
from scheduler.config import Settings
from scheduler.metrics import Metrics
from scheduler.models import Event
from scheduler.services.events import EventChange
from scheduler.status import CANCELLED
from scheduler.store import events as event_store
from scheduler.store.database import Database
from scheduler.store.feeds import feed_events
from scheduler.timezones import Clock

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RenderedFeed:
    body: bytes
    etag: str  # strong, quoted
    last_modified: datetime
    filename: str
    valid_until: datetime | None  # when an event leaves the window

    #: ``Last-Modified`` as HTTP writes it, formatted once per feed, not per request
    last_modified_http: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "last_modified_http", format_datetime(self.last_modified, usegmt=True)
        )


def _etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


class FeedService:
    def __init__(
        self, db: Database, settings: Settings, clock: Clock, metrics: Metrics | None = None
    ) -> None:
        self.metrics = metrics or Metrics()
        self.db = db
        self.settings = settings
        self.clock = clock
        self._pieces: dict[str, Piece] = {}
        self._feeds: dict[str, RenderedFeed] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._generation = 0
        self.renders = 0  # feeds assembled (for metrics)
        self.cache_hits = 0

    @property
    def meta(self) -> CalendarMeta:
        s = self.settings
        return CalendarMeta(
            s.calendar_name,
            s.calendar_description,
            timedelta(minutes=s.feed_refresh_minutes),
            s.calendar_timezone,
        )

    async def on_change(self, change: EventChange) -> None:
        """Listener for event changes: forget the event's piece and every feed."""
        if change.kind == "state":
            # a scheduled start or end reached: no row changed, and a VEVENT does
            # not depend on it (operator starts and ends come as their own kinds)
            return
        if change.kind == "resync":
            self.invalidate_all()
            return
        self._generation += 1
        self._pieces.pop(change.event_id, None)
        self._feeds.clear()

    def invalidate_all(self) -> None:
        self._generation += 1
        self._pieces.clear()
        self._feeds.clear()

    async def calendar(self, channel: str | None) -> RenderedFeed:
        key = f"channel:{channel}" if channel else "all"
        return await self._cached(key, lambda: self._build_calendar(channel))

    async def event(self, event_id: str) -> RenderedFeed:
        return await self._cached(f"event:{event_id}", lambda: self._build_event(event_id))

    async def _cached(self, key: str, build: Callable[[], Awaitable[RenderedFeed]]) -> RenderedFeed:
        feed = self._fresh(key)
        if feed is not None:
            self.cache_hits += 1
            self.metrics.feed_cache_hits.inc()
            return feed
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            feed = self._fresh(key)  # built by whoever held the lock
            if feed is not None:
                self.cache_hits += 1
                self.metrics.feed_cache_hits.inc()
                return feed
            generation = self._generation
            feed = await build()
            if generation == self._generation:
                self._feeds[key] = feed
            return feed

    def _fresh(self, key: str) -> RenderedFeed | None:
        feed = self._feeds.get(key)
        if feed is None:
            return None
        if feed.valid_until is not None and self.clock() >= feed.valid_until:
            self._feeds.pop(key, None)
            return None
        return feed

    async def _pieces_for(self, events: Sequence[Event]) -> list[Piece]:
        missing = [
            e
            for e in events
            if (p := self._pieces.get(e.id)) is None or p.version != (e.sequence, e.updated_at)
        ]
        if missing:
            domain = self.settings.calendar_uid_domain
            rendered = await asyncio.to_thread(
                lambda: [render_vevent(e, uid_domain=domain) for e in missing]
            )
            for piece in rendered:
                self._pieces[piece.event_id] = piece
        return [self._pieces[e.id] for e in events]

    async def _assemble(
        self, meta: CalendarMeta, pieces: list[Piece], filename: str, valid_until: datetime | None
    ) -> RenderedFeed:
        now = self.clock()
        body = await asyncio.to_thread(render_feed, meta, pieces, now=now)
        self.renders += 1
        self.metrics.feed_renders.inc()
        last_modified = max((p.updated_at for p in pieces), default=now)
        return RenderedFeed(body, _etag(body), last_modified, filename, valid_until)

    async def _build_calendar(self, channel: str | None) -> RenderedFeed:
        now = self.clock()
        past = timedelta(days=self.settings.feed_past_days)
        keep_cancelled = timedelta(days=self.settings.feed_cancelled_days)
        async with self.db.session() as session:
            events = await feed_events(
                session,
                channel=channel,
                ended_after=now - past,
                cancelled_after=now - keep_cancelled,
                limit=self.settings.feed_max_events,
            )
        expiries = [e.end_utc + past for e in events]
        expiries += [e.cancelled_at + keep_cancelled for e in events if e.cancelled_at]
        pieces = await self._pieces_for(events)
        meta = self.meta
        if channel:
            meta = CalendarMeta(
                f"{meta.name}: {channel}", meta.description, meta.refresh, meta.default_zone
            )
        filename = f"{channel}.ics" if channel else "webstreams.ics"
        return await self._assemble(meta, pieces, filename, min(expiries, default=None))

    async def _build_event(self, event_id: str) -> RenderedFeed:
        async with self.db.session() as session:
            event = await event_store.require(session, event_id)
        pieces = await self._pieces_for([event])
        # X-WR-TIMEZONE stays the feed's (UTC by default): naming the event's zone
        # makes some readers move the UTC-written times of a repeated hour
        meta = CalendarMeta(event.title, "", self.meta.refresh, self.meta.default_zone)
        status = "cancelled-" if event.status == CANCELLED else ""
        return await self._assemble(meta, pieces, f"{status}event-{event.id}.ics", None)
