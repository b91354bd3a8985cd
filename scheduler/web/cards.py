"""An event as a page shows it: the API's representation, worded for people.

A :class:`Card` is built from :class:`~scheduler.models.EventPublic` (what
``GET /api/events/{id}`` answers) and nothing else, so a page cannot say more
or other than the API. It carries what the templates print (times in the
event's own zone, the badge) and what the page's script needs to follow the
event (its instants and marks as ``data-`` attributes).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote

from scheduler.models import EventLinks, EventPublic
from scheduler.status import State
from scheduler.timezones import to_local
from scheduler.web import times
from scheduler.web.text import safe_url

BADGES = {
    State.UPCOMING.value: "Upcoming",
    State.LIVE.value: "Live",
    State.ENDED.value: "Ended",
    State.CANCELLED.value: "Cancelled",
}


@dataclass(frozen=True)
class Card:
    id: str
    title: str
    description: str | None
    channel: str | None
    location: str | None
    url: str  # the event's page, relative
    stream_url: str | None  # only http(s)
    zone: str
    state: str
    overrunning: bool
    cancelled: bool
    #: UTC instants (``...Z``) for ``<time datetime>`` and the script
    start_utc: str
    end_utc: str
    actual_start: str
    actual_end: str
    #: wall times in the event's own zone
    start_local: datetime
    end_local: datetime
    #: when it ended or ends: the operator's mark, else the schedule (UTC)
    ends_at: datetime
    when: str  # "18:15–19:30 CEST, Brussels"
    day: str  # "Tuesday 22 May 2018"
    day_key: str
    rescheduled_from: str | None  # "Tuesday 22 May 2018, 18:00 CEST" when moved
    links: EventLinks | None
    tags: tuple[str, ...] = ()
    #: an occurrence's series page (issue 15), None for a one-off event
    series_url: str | None = None

    @property
    def badge(self) -> str:
        label = BADGES[self.state]
        return f"{label} · running over" if self.overrunning else label

    @property
    def countdown(self) -> str:
        """What the countdown says without the script (it counts once it runs)."""
        if self.state == State.UPCOMING.value:
            return f"Starts at {times.clock_time(self.start_local)}"
        if self.state == State.LIVE.value:
            if self.overrunning:
                return (
                    f"Running over: it was scheduled to end at {times.clock_time(self.end_local)}"
                )
            return f"Live until {times.clock_time(self.end_local)}"
        if self.state == State.ENDED.value:
            ended = to_local(self.zone, self.ends_at)
            return f"Ended at {times.clock_time(ended)}"
        return "It will not be streamed"

    @property
    def length(self) -> str:
        return times.duration(self.end_local - self.start_local)


def event_path(event_id: str) -> str:
    return f"/events/{quote(event_id, safe='')}"


def series_path(series_id: str) -> str:
    return f"/series/{quote(series_id, safe='')}"


def channel_path(channel: str) -> str:
    return f"/channels/{quote(channel, safe='')}"


def card(event: EventPublic) -> Card:
    zone = event.timezone
    start, end = to_local(zone, event.start_utc), to_local(zone, event.end_utc)
    moved = None
    if event.previous_start_utc is not None:
        before = to_local(zone, event.previous_start_utc)
        moved = f"{times.day(before)}, {times.clock_time(before)}"
    return Card(
        id=event.id,
        title=event.title,
        description=event.description,
        channel=event.channel,
        location=event.location,
        url=event_path(event.id),
        stream_url=safe_url(event.stream_url),
        zone=zone,
        state=event.state,
        overrunning=event.overrunning,
        cancelled=event.status == State.CANCELLED.value,
        start_utc=times.utc(event.start_utc),
        end_utc=times.utc(event.end_utc),
        actual_start=times.utc(event.actual_start),
        actual_end=times.utc(event.actual_end),
        start_local=start,
        end_local=end,
        ends_at=event.actual_end or event.end_utc,
        when=times.time_range(start, end, zone),
        day=times.day(start),
        day_key=times.day_key(start),
        rescheduled_from=moved,
        links=event.links,
        tags=tuple(event.tags),
        series_url=series_path(event.series_id) if event.series_id else None,
    )
