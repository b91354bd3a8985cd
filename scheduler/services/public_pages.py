"""The public pages, rendered once and kept as bytes like the API's pages.

``GET /``, ``/channels/{name}``, ``/embed``, ``/embed/channels/{name}``,
``/events/{id}`` and ``/series/{id}`` are read by every viewer and change only when an event does
or when the clock moves an event from one section to another. So each page is
built once (the events the API would list, their cards, the template) and
kept (:class:`~scheduler.services.kept_bytes.KeptBytes`), keyed by what was
asked and the base URL its absolute links use, until:

- any committed change to an event or a series, made here or heard from
  another process through the change routing, forgets every kept page;
- the clock reaches the next instant at which one of its events starts, ends,
  is due to end (an operator-started stream begins "running over") or leaves
  the "recently ended" window.

A page's ETag is a strong tag of its bytes, so a browser revalidates with
``If-None-Match`` and gets 304 until one of those happens.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from scheduler.calendar.links import feed_links
from scheduler.config import Settings
from scheduler.exceptions import NotFound
from scheduler.models import Event
from scheduler.models.changes import Change, ChangeKind
from scheduler.representation import event_model
from scheduler.services.events import EventService
from scheduler.services.kept_bytes import Kept, KeptBytes
from scheduler.services.series import SeriesService
from scheduler.store import events as event_store
from scheduler.store.events import EventFilter
from scheduler.timezones import Clock
from scheduler.web import schedule
from scheduler.web.assets import Assets
from scheduler.web.cards import card, channel_path, event_path, series_path
from scheduler.web.structured import Site, event_graph

#: total bytes of kept pages (a 200-event schedule is ~150 KB)
MAX_BYTES = 16 * 1024 * 1024
#: how much of a description a page's summary (meta description, OpenGraph) repeats
SUMMARY_CHARS = 200

Render = Callable[[str, Mapping[str, Any]], str]


@dataclass(frozen=True)
class Missing:
    """What a "not found" page says."""

    heading: str
    message: str


class PublicPages:
    def __init__(
        self,
        events: EventService,
        settings: Settings,
        clock: Clock,
        render: Render,
        assets: Assets,
        *,
        series: SeriesService | None = None,
        max_bytes: int = MAX_BYTES,
    ) -> None:
        self.events = events
        self.series = series
        self.settings = settings
        self.clock = clock
        self.render = render
        self.assets = assets
        self.kept = KeptBytes(clock, max_bytes=max_bytes)

    # --- pages ----------------------------------------------------------------------

    async def schedule(self, *, channel: str | None, base_url: str, embed: bool = False) -> Kept:
        """The schedule (``embed``: the compact one for an iframe), or one channel's;
        :class:`NotFound` for a channel no event names."""
        key = ("schedule", channel, base_url, embed)
        kept = self.kept.fresh(key)
        if kept is not None:
            return kept

        async def build() -> Kept:
            channels = await self._channels()
            if channel is not None and channel not in channels:
                raise NotFound(f"no event is on a channel named {channel!r}")
            now = self.clock()
            page = await self.events.list_page(
                EventFilter(ends_after=schedule.window(now), channel=channel),
                limit=min(schedule.MAX_EVENTS, self.settings.page_size_max),
            )
            # ~45 ms for 200 events (cards and template): off the loop, which
            # fires webhooks on time (the feeds render the same way)
            body = await asyncio.to_thread(
                self._render_schedule,
                page.items,
                cut=page.next_cursor is not None,
                now=now,
                channel=channel,
                channels=channels,
                base_url=base_url,
                embed=embed,
            )
            return Kept(body, self._valid_until(page.items, now))

        return await self.kept.get(key, build)

    async def event(self, event_id: str, *, base_url: str) -> Kept:
        """One event's page (:class:`NotFound` for an unknown id)."""
        key = ("event", event_id, base_url)
        kept = self.kept.fresh(key)
        if kept is not None:
            return kept

        async def build() -> Kept:
            event = await self.events.get(event_id)
            now = self.clock()
            public = event_model(event, now=now, base_url=base_url)
            shown = card(public)
            page_url = base_url + event_path(event.id)
            site = self._site(base_url)
            thumbnail = base_url + self.assets.url("stream.svg")
            context = {
                **self._common(base_url),
                "page": "event",
                "stream": f"/api/events/{event.id}/status/stream",
                "channel": event.channel,
                "card": shown,
                "summary": _summary(event.description, f"{shown.day}, {shown.when}"),
                "page_url": page_url,
                "structured": event_graph(public, site, page_url=page_url, thumbnail_url=thumbnail),
            }
            body = self.render("event.html", context)
            return Kept(body.encode(), self._valid_until([event], now))

        return await self.kept.get(key, build)

    async def series_page(self, series_id: str, *, base_url: str) -> Kept:
        """A recurring series: its rule and its occurrences as a schedule
        (:class:`NotFound` for an unknown id)."""
        key = ("series", series_id, base_url)
        kept = self.kept.fresh(key)
        if kept is not None:
            return kept

        async def build() -> Kept:
            if self.series is None:
                raise NotFound(f"no series with id {series_id!r}")
            found = (await self.series.get(series_id)).series
            now = self.clock()
            page = await self.events.list_page(
                EventFilter(ends_after=schedule.window(now), series_id=found.id),
                limit=min(schedule.MAX_EVENTS, self.settings.page_size_max),
            )
            channel = found.channel
            context = {
                **self._common(base_url),
                "page": "series",
                "stream": "/api/live/stream",
                "channel": channel,
                "heading": found.title,
                "description": _summary(found.description, f"A recurring webstream: {found.title}"),
                "series_description": found.description,
                "rule": found.rrule,
                "zone": found.timezone,
                "cancelled_note": "cancelled; it " if found.status == "cancelled" else "",
                "feed": feed_links(base_url, channel) if channel else None,
                "feed_title": f"{self.settings.calendar_name}: {channel}",
                "page_url": base_url + series_path(found.id),
            }

            def render() -> bytes:  # as a schedule: off the loop
                cards = [card(event_model(e, now=now)) for e in page.items]
                sections = schedule.arrange(
                    cards, now=now, day_zone=self.settings.calendar_timezone, limit=len(cards)
                )
                return self.render("series.html", {**context, "schedule": sections}).encode()

            body = await asyncio.to_thread(render)
            return Kept(body, self._valid_until(page.items, now))

        return await self.kept.get(key, build)

    def _render_schedule(
        self,
        events: Sequence[Event],
        *,
        cut: bool,
        now: datetime,
        channel: str | None,
        channels: list[str],
        base_url: str,
        embed: bool,
    ) -> bytes:
        cards = [card(event_model(e, now=now)) for e in events]
        sections = schedule.arrange(
            cards,
            now=now,
            day_zone=self.settings.calendar_timezone,
            limit=schedule.MAX_EMBEDDED if embed else schedule.MAX_EVENTS,
            ended=not embed,
        )
        if cut:
            sections = schedule.Sections(sections.live, sections.upcoming, sections.ended, True)
        name = self.settings.calendar_name
        path = channel_path(channel) if channel else "/"
        context = {
            **self._common(base_url),
            "page": "embed" if embed else "schedule",
            "stream": "/api/live/stream",
            "channel": channel,
            "channels": channels,
            "heading": channel or name,
            "description": self.settings.calendar_description,
            "feed": feed_links(base_url, channel),
            "feed_title": f"{name}: {channel}" if channel else name,
            "page_url": base_url + path,
            "full_url": base_url + path,
            "schedule": sections,
        }
        return self.render("embed.html" if embed else "schedule.html", context).encode()

    def missing(self, missing: Missing, *, base_url: str) -> bytes:
        """A "not found" (or "bad request") page: rendered per request, never kept."""
        context = {
            **self._common(base_url),
            "page": "missing",
            "stream": "",
            "channel": None,
            "heading": missing.heading,
            "message": missing.message,
        }
        return self.render("missing.html", context).encode()

    async def on_change(self, change: Change) -> None:
        """Listener on the change routing: any event or series change may touch any page."""
        if change.kind is not ChangeKind.WEBHOOK:
            self.kept.forget_all()

    # --- pieces ---------------------------------------------------------------------

    async def _channels(self) -> list[str]:
        async with self.events.db.session() as session:
            return await event_store.channels(session)

    def _site(self, base_url: str) -> Site:
        s = self.settings
        return Site(
            name=s.calendar_name,
            organizer=s.organizer_name or s.calendar_name,
            organizer_url=s.organizer_url or base_url + "/",
            base_url=base_url,
        )

    def _common(self, base_url: str) -> dict[str, Any]:
        return {
            "site": self._site(base_url),
            "assets": {
                "css": self.assets.url("pages.css"),
                "js": self.assets.url("pages.js"),
                "icon": self.assets.url("stream.svg"),
            },
            "day_zone": self.settings.calendar_timezone,
        }

    def _valid_until(self, events: Sequence[Event], now: datetime) -> datetime | None:
        """The first instant after ``now`` at which the clock alone moves one of
        these events to another state or section of the page."""
        moments: list[datetime] = []
        for e in events:
            ends = e.actual_end or e.end_utc
            candidates = (e.start_utc, e.end_utc, ends + schedule.RECENT)
            moments += [t for t in candidates if t > now]
        return min(moments, default=None)


def _summary(description: str | None, fallback: str) -> str:
    if not description:
        return fallback
    text = " ".join(description.split())
    return text if len(text) <= SUMMARY_CHARS else text[: SUMMARY_CHARS - 1] + "…"
