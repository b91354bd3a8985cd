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
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import format_datetime

from scheduler.calendar.render import CalendarMeta, Piece, render_feed, render_vevent
from scheduler.calendar.series import render_series
from scheduler.config import Settings
from scheduler.metrics import Metrics
from scheduler.models import Event
from scheduler.services.events import EventChange
from scheduler.services.feed_members import FeedMembers
from scheduler.services.series_feed import plan_master
from scheduler.services.single_flight import SingleFlight
from scheduler.status import CANCELLED
from scheduler.store import events as event_store
from scheduler.store import series as series_store
from scheduler.store.database import Database
from scheduler.store.feeds import feed_events, feed_series
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


@dataclass(frozen=True)
class FeedChoice:
    """What a subscriber chose in the feed's URL: only events with one of
    ``tags`` (``None``: all), and ``alarms`` (minutes before start) instead of
    each event's own (``None``: the events' own; empty: none)."""

    tags: frozenset[str] | None = None
    alarms: tuple[int, ...] | None = None

    @property
    def key(self) -> str:
        tags = ",".join(sorted(self.tags)) if self.tags is not None else "*"
        alarms = ",".join(map(str, self.alarms)) if self.alarms is not None else "*"
        return f"tags={tags};alarms={alarms}"


AS_PUBLISHED = FeedChoice()
#: feeds kept for choices other than the published one (each holds a whole
#: feed's bytes; a client inventing combinations evicts the oldest)
MAX_CHOSEN_FEEDS = 32


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
        #: each series' master with its overrides (``calendar.series``), by series id
        self._series_pieces: dict[str, Piece] = {}
        #: which series each feed shows (asked again after any change to a series)
        self._feed_series: dict[str, list[str]] = {}
        #: rows heard in changes, rendered when a feed next needs their piece
        self._rows: dict[str, Event] = {}
        self._members: dict[str, FeedMembers] = {}
        self._feeds: dict[str, RenderedFeed] = {}
        #: keys of the feeds kept for a subscriber's choice, oldest first
        self._chosen: OrderedDict[str, None] = OrderedDict()
        self._building: SingleFlight[RenderedFeed] = SingleFlight()
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
        if change.kind == "series":
            self._series_pieces.pop(change.ref_id, None)
            self._feed_series.clear()
            self._feeds.clear()
            self._chosen.clear()
            return
        if change.event is not None and change.event.series_id is not None:
            self._series_pieces.pop(change.event.series_id, None)
            self._feed_series.clear()
        self._pieces.pop(change.event_id, None)
        if change.event is not None and change.event.series_id is None:
            self._rows[change.event_id] = change.event
        else:
            self._rows.pop(change.event_id, None)
        for members in self._members.values():
            members.changed(change.event_id, change.event)
        self._feeds.clear()
        self._chosen.clear()

    def invalidate_all(self) -> None:
        self._generation += 1
        self._pieces.clear()
        self._series_pieces.clear()
        self._feed_series.clear()
        self._rows.clear()
        self._members.clear()
        self._feeds.clear()
        self._chosen.clear()

    def kept_calendar(self, channel: str | None) -> RenderedFeed | None:
        """The feed as kept, if it still is (no await: the path of most requests)."""
        feed = self._fresh(f"channel:{channel}" if channel else "all")
        if feed is not None:
            self.cache_hits += 1
            self.metrics.feed_cache_hits.inc()
        return feed

    async def calendar(
        self, channel: str | None, choice: FeedChoice = AS_PUBLISHED
    ) -> RenderedFeed:
        key = f"channel:{channel}" if channel else "all"
        if choice != AS_PUBLISHED:
            key = f"{key}?{choice.key}"
        return await self._cached(key, lambda: self._build_calendar(channel, choice))

    async def event(self, event_id: str, choice: FeedChoice = AS_PUBLISHED) -> RenderedFeed:
        key = f"event:{event_id}"
        if choice != AS_PUBLISHED:
            key = f"{key}?{choice.key}"
        return await self._cached(key, lambda: self._build_event(event_id, choice))

    async def _cached(self, key: str, build: Callable[[], Awaitable[RenderedFeed]]) -> RenderedFeed:
        feed = self._fresh(key)
        if feed is not None:
            self.cache_hits += 1
            self.metrics.feed_cache_hits.inc()
            return feed

        async def build_and_keep() -> RenderedFeed:
            generation = self._generation
            built = await build()
            if generation == self._generation:
                self._keep(key, built)
            return built

        return await self._building.run(key, build_and_keep)

    def _keep(self, key: str, feed: RenderedFeed) -> None:
        self._feeds[key] = feed
        if "?" in key:
            self._chosen[key] = None
            self._chosen.move_to_end(key)
            while len(self._chosen) > MAX_CHOSEN_FEEDS:
                oldest, _ = self._chosen.popitem(last=False)
                self._feeds.pop(oldest, None)

    def _fresh(self, key: str) -> RenderedFeed | None:
        feed = self._feeds.get(key)
        if feed is None:
            return None
        if feed.valid_until is not None and self.clock() >= feed.valid_until:
            self._feeds.pop(key, None)
            return None
        return feed

    async def _pieces_for(
        self, ids: Sequence[str], rows: Mapping[str, Event] | None = None
    ) -> list[Piece]:
        """The pieces of these events, rendering those not kept (from ``rows``, the
        rows heard in changes, or read for the purpose)."""
        rows = rows or {}
        missing = [
            i
            for i in ids
            if (p := self._pieces.get(i)) is None
            or (i in rows and p.version != (rows[i].sequence, rows[i].updated_at))
        ]
        if missing:
            found = {i: rows.get(i) or self._rows.get(i) for i in missing}
            unknown = [i for i, row in found.items() if row is None]
            if unknown:
                async with self.db.session() as session:
                    found.update(await event_store.by_ids(session, unknown))
            events = [e for e in found.values() if e is not None]
            domain = self.settings.calendar_uid_domain
            rendered = await asyncio.to_thread(
                lambda: [render_vevent(e, uid_domain=domain) for e in events]
            )
            fresh = {piece.event_id: piece for piece in rendered}
            for event in events:
                heard = self._rows.get(event.id)
                if heard is None or heard is event:
                    # kept unless a change came in while it was rendered
                    self._pieces[event.id] = fresh[event.id]
                    self._rows.pop(event.id, None)
            return [p for i in ids if (p := fresh.get(i) or self._pieces.get(i)) is not None]
        return [self._pieces[i] for i in ids]

    async def _feed_pieces(
        self,
        key: str,
        channel: str | None,
        window: dict[str, datetime],
        ids: list[str],
        rows: Mapping[str, Event],
    ) -> list[Piece]:
        """The feed's pieces: each series once, as its master, then the one-off events."""
        series_ids = self._feed_series.get(key)
        if series_ids is None:
            generation = self._generation
            async with self.db.session() as session:
                series_ids = await feed_series(session, channel=channel, **window)
            if generation == self._generation:
                self._feed_series[key] = series_ids
        masters = await self._series_pieces_for(series_ids)
        singles = await self._pieces_for(ids, rows)
        return [masters[i] for i in series_ids if i in masters] + singles

    async def _series_pieces_for(self, series_ids: Sequence[str]) -> dict[str, Piece]:
        found = {i: p for i in series_ids if (p := self._series_pieces.get(i)) is not None}
        missing = [i for i in series_ids if i not in found]
        if not missing:
            return found
        generation = self._generation
        async with self.db.session() as session:
            stored = await series_store.for_feed(session, missing)
        domain = self.settings.calendar_uid_domain

        def render() -> dict[str, Piece]:
            rendered = {}
            for series_id, (series, rows, pauses) in stored.items():
                plan = plan_master(series, rows, pauses)
                if plan is not None:
                    rendered[series_id] = render_series(plan, uid_domain=domain)
            return rendered

        fresh = await asyncio.to_thread(render)
        if generation == self._generation:
            self._series_pieces.update(fresh)
        found.update(fresh)
        return found

    async def _assemble(
        self,
        meta: CalendarMeta,
        pieces: list[Piece],
        filename: str,
        valid_until: datetime | None,
        choice: FeedChoice = AS_PUBLISHED,
    ) -> RenderedFeed:
        now = self.clock()
        if choice.tags is not None:
            pieces = [p for p in pieces if p.tags & choice.tags]
        body = await asyncio.to_thread(render_feed, meta, pieces, now=now, alarms=choice.alarms)
        self.renders += 1
        self.metrics.feed_renders.inc()
        last_modified = max((p.updated_at for p in pieces), default=now)
        return RenderedFeed(body, _etag(body), last_modified, filename, valid_until)

    async def _build_calendar(self, channel: str | None, choice: FeedChoice) -> RenderedFeed:
        now = self.clock()
        past = timedelta(days=self.settings.feed_past_days)
        keep_cancelled = timedelta(days=self.settings.feed_cancelled_days)
        window = {"ended_after": now - past, "cancelled_after": now - keep_cancelled}
        key = f"channel:{channel}" if channel else "all"
        members, rows = self._members.get(key), {}
        if members is not None:
            ids = members.age(**window)
        if members is None or members.stale:
            # a first build, or a member left a feed cut at its limit
            generation = self._generation
            async with self.db.session() as session:
                events = await feed_events(
                    session, channel=channel, limit=self.settings.feed_max_events, **window
                )
            members = FeedMembers(
                list(events), channel=channel, limit=self.settings.feed_max_events
            )
            if generation == self._generation:  # no change heard while reading
                self._members[key] = members
            else:
                self._members.pop(key, None)
            rows = {e.id: e for e in events}
            ids = members.ids()
        pieces = await self._feed_pieces(key, channel, window, ids, rows)
        meta = self.meta
        if channel:
            meta = CalendarMeta(
                f"{meta.name}: {channel}", meta.description, meta.refresh, meta.default_zone
            )
        filename = f"{channel}.ics" if channel else "webstreams.ics"
        expiry = members.expiry(past=past, keep_cancelled=keep_cancelled)
        return await self._assemble(meta, pieces, filename, expiry, choice)

    async def _build_event(self, event_id: str, choice: FeedChoice) -> RenderedFeed:
        async with self.db.session() as session:
            event = await event_store.require(session, event_id)
        pieces = await self._pieces_for([event.id], {event.id: event})
        # X-WR-TIMEZONE stays the feed's (UTC by default): naming the event's zone
        # makes some readers move the UTC-written times of a repeated hour
        meta = CalendarMeta(event.title, "", self.meta.refresh, self.meta.default_zone)
        status = "cancelled-" if event.status == CANCELLED else ""
        return await self._assemble(meta, pieces, f"{status}event-{event.id}.ics", None, choice)
