"""What a chat message says, in words a person reads. Pure.

Chat formats (``slack``, ``discord``, ``teams``) tell a channel what the
Standard Webhooks body tells a program: which event, what happened ("starts
in 15 minutes", "is live now", "has ended", "was moved to ...", "was
cancelled"), when it is in the event's own zone and in UTC, and where to
watch. A :class:`Notice` holds those words, raw; each platform's module
escapes and fits them into its own JSON.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from scheduler.models import PING_TYPE, Event, EventType
from scheduler.timezones import format_offset, to_local

DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
STREAM_LABEL = "Watch the stream"


@dataclass(frozen=True)
class Notice:
    """One chat message in words, before escaping."""

    kind: str  # the event type (``event.reminder`` ...) or ``webhook.ping``
    title: str
    headline: str  # what happened, completing a sentence that starts with the title
    local: str | None  # when, in the event's zone: "Tue 22 May 2018 18:15-19:30 ..."
    utc: str | None  # when, in UTC
    description: str | None
    stream_url: str | None
    starts_at: datetime | None  # the event's start (UTC), for platforms that show instants


def _date(at: datetime) -> str:
    return f"{DAYS[at.weekday()]} {at.day} {MONTHS[at.month - 1]} {at.year}"


def _span(start: datetime, end: datetime) -> str:
    """``Tue 22 May 2018 18:15-19:30``, or both dates when the span crosses midnight."""
    if start.date() == end.date():
        return f"{_date(start)} {start:%H:%M}-{end:%H:%M}"
    return f"{_date(start)} {start:%H:%M} - {_date(end)} {end:%H:%M}"


def _offsets(start: datetime, end: datetime) -> str:
    first, last = start.utcoffset(), end.utcoffset()
    assert first is not None and last is not None
    if first == last:
        return f"UTC{format_offset(first)}"
    return f"UTC{format_offset(first)} to UTC{format_offset(last)}"


def local_span(zone: str, start_utc: datetime, end_utc: datetime) -> str:
    """When, in the event's zone, with its offset(s)."""
    start, end = to_local(zone, start_utc), to_local(zone, end_utc)
    return f"{_span(start, end)} {zone} ({_offsets(start, end)})"


def utc_span(start_utc: datetime, end_utc: datetime) -> str:
    return f"{_span(start_utc.astimezone(UTC), end_utc.astimezone(UTC))} UTC"


def duration(minutes: int) -> str:
    """``15`` -> ``15 minutes``, ``90`` -> ``1 hour 30 minutes``, ``2880`` -> ``2 days``."""

    def plural(count: int, unit: str) -> str:
        return f"{count} {unit}{'' if count == 1 else 's'}"

    if minutes and minutes % 1440 == 0:
        return plural(minutes // 1440, "day")
    hours, mins = divmod(minutes, 60)
    if not hours:
        return plural(mins, "minute")
    return plural(hours, "hour") + (f" {plural(mins, 'minute')}" if mins else "")


def headline(
    type_: str, event: Event, *, minutes_before: int | None = None, moved: bool = False
) -> str:
    if type_ == EventType.REMINDER:
        minutes = minutes_before or 0
        return f"starts in {duration(minutes)}" if minutes else "starts now"
    if type_ == EventType.STARTED:
        return "is live now"
    if type_ == EventType.ENDED:
        return "has ended"
    if type_ == EventType.CANCELLED:
        return "was cancelled"
    if moved:
        start = to_local(event.timezone, event.start_utc)
        return f"was moved to {_date(start)} {start:%H:%M} {event.timezone}"
    return "was changed"


def event_notice(
    type_: str, event: Event, *, minutes_before: int | None = None, moved: bool = False
) -> Notice:
    """The words for ``type_`` of ``event`` as it is now (an ``event.updated``
    whose times changed is ``moved``)."""
    return Notice(
        kind=type_,
        title=event.title,
        headline=headline(type_, event, minutes_before=minutes_before, moved=moved),
        local=local_span(event.timezone, event.start_utc, event.end_utc),
        utc=utc_span(event.start_utc, event.end_utc),
        description=event.description,
        stream_url=event.stream_url,
        starts_at=event.start_utc,
    )


def ping_notice(types: list[str], channel: str | None) -> Notice:
    """The words of ``webhook.ping``: this channel is connected, and to what."""
    what = ", ".join(t.removeprefix("event.") for t in types)
    where = f"events of channel {channel}" if channel else "all events"
    return Notice(
        kind=PING_TYPE,
        title="broadcast-scheduler",
        headline="is connected to this channel",
        local=None,
        utc=None,
        description=f"Messages to come: {what}, for {where}.",
        stream_url=None,
        starts_at=None,
    )
