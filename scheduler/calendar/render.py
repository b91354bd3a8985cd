"""RFC 5545 rendering with the icalendar library. Pure.

Each event becomes one VEVENT, rendered once and kept as bytes (rendering is
the expensive part: ~0.35 ms per event); a feed is the calendar's head, the
VTIMEZONEs of the zones its events use, and those pieces, joined. Nothing in
the output depends on the time of rendering (``DTSTAMP`` is the event's last
change), so an unchanged feed is byte-identical between requests.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from icalendar import Alarm, Calendar, vDuration, vText
from icalendar import Event as VEvent

from scheduler import __version__
from scheduler.calendar.vtimezone import build_vtimezone
from scheduler.models import Event
from scheduler.status import CANCELLED
from scheduler.timezones import is_plain_wall_time, isoformat_utc

PRODID = f"-//broadcast-scheduler//broadcast-scheduler {__version__}//EN"
END = b"END:VCALENDAR\r\n"
END_VEVENT = b"END:VEVENT\r\n"


@lru_cache(maxsize=8192)
def alarm_block(title: str, minutes: int) -> bytes:
    """One VALARM: a display alarm ``minutes`` before the start (titles repeat
    across a schedule, so blocks are kept per title and lead time)."""
    alarm = Alarm()
    alarm.add("ACTION", "DISPLAY")
    alarm.add("DESCRIPTION", f"{title} starts in {minutes} minutes")
    alarm.add("TRIGGER", timedelta(minutes=-minutes))
    block: bytes = alarm.to_ical()
    return block


@dataclass(frozen=True)
class CalendarMeta:
    name: str
    description: str
    refresh: timedelta
    default_zone: str


@dataclass(frozen=True)
class VeventPart:
    """One rendered VEVENT, kept in two parts: everything but its alarms
    (``head``, ending with its last property) and its own alarms, so a feed whose
    subscriber chose other alarms (``?alarms=``) swaps those only."""

    head: bytes
    alarms: bytes
    title: str
    cancelled: bool

    @property
    def body(self) -> bytes:
        return self.head + self.alarms + END_VEVENT

    def with_alarms(self, minutes: Sequence[int]) -> bytes:
        """The VEVENT with these alarms instead of its own (none when cancelled)."""
        if self.cancelled or not minutes:
            return self.head + END_VEVENT
        return self.head + b"".join(alarm_block(self.title, m) for m in minutes) + END_VEVENT


def vevent_part(
    vevent: VEvent, title: str, reminders: Sequence[int], cancelled: bool
) -> VeventPart:
    """``vevent`` (rendered without alarms) with display alarms ``reminders``
    minutes before its start, none when ``cancelled``."""
    rendered = vevent.to_ical()
    assert rendered.endswith(END_VEVENT)
    alarms = b"" if cancelled else b"".join(alarm_block(title, m) for m in reminders)
    return VeventPart(rendered[: -len(END_VEVENT)], alarms, title, cancelled)


@dataclass(frozen=True)
class Piece:
    """One event's (or one series') rendered VEVENTs and what the feed needs to
    know about them."""

    event_id: str
    version: tuple[int, datetime]  # (sequence, updated_at): re-render when it moves
    zone: str
    years: tuple[int, int]
    updated_at: datetime
    vevents: tuple[VeventPart, ...]
    tags: frozenset[str] = frozenset()
    #: other zones its body names (a series' exceptions moved to another zone)
    more_zones: tuple[tuple[str, tuple[int, int]], ...] = ()

    @property
    def body(self) -> bytes:
        return b"".join(v.body for v in self.vevents)

    def with_alarms(self, minutes: Sequence[int]) -> bytes:
        """The VEVENTs with these alarms instead of their own."""
        return b"".join(v.with_alarms(minutes) for v in self.vevents)


def event_uid(event_id: str, domain: str) -> str:
    return f"{event_id}@{domain}"


def _when(event: Event, wall: datetime, instant: datetime) -> datetime:
    """``DTSTART``/``DTEND`` value: the wall time in its zone, or UTC for an instant
    in a repeated (fall-back) hour, which readers do not agree how to read."""
    if is_plain_wall_time(event.timezone, wall, instant):
        return wall
    return instant


def _description(event: Event) -> str:
    parts = [event.description] if event.description else []
    if event.stream_url:
        parts.append(f"Live stream: {event.stream_url}")
    if event.actual_start is not None:
        parts.append(f"Went live at {isoformat_utc(event.actual_start)}")
    if event.actual_end is not None:
        parts.append(f"Ended at {isoformat_utc(event.actual_end)}")
    return "\n\n".join(parts)


def add_what(
    vevent: VEvent,
    *,
    title: str,
    description: str,
    location: str | None,
    stream_url: str | None,
    channel: str | None,
    tags: Sequence[str],
) -> None:
    """What an event's VEVENT and a series' master say alike: SUMMARY,
    DESCRIPTION, LOCATION, the stream as URL and CONFERENCE, and CATEGORIES
    (the channel, then the tags)."""
    vevent.add("SUMMARY", title)
    if description:
        vevent.add("DESCRIPTION", description)
    if location:
        vevent.add("LOCATION", location)
    if stream_url:
        vevent.add("URL", stream_url)
        vevent.add(
            "CONFERENCE",
            vText(stream_url),
            parameters={"VALUE": "URI", "FEATURE": "VIDEO", "LABEL": "Live stream"},
        )
    categories = list(dict.fromkeys([*([channel] if channel else []), *tags]))
    if categories:
        vevent.add("CATEGORIES", categories)


def render_vevent(
    event: Event,
    *,
    uid_domain: str,
    uid: str | None = None,
    recurrence: tuple[str, datetime] | None = None,
) -> Piece:
    """The event's VEVENT. With ``uid`` and ``recurrence`` (zone, wall time as the
    rule names the instance) it is an override of that instance of a series."""
    vevent = VEvent()
    vevent.add("UID", uid or event_uid(event.id, uid_domain))
    if recurrence is not None:
        zone, wall = recurrence
        vevent.add("RECURRENCE-ID", wall, parameters={"TZID": zone})
    vevent.add("DTSTAMP", event.updated_at)
    vevent.add("CREATED", event.created_at)
    vevent.add("LAST-MODIFIED", event.updated_at)
    vevent.add("SEQUENCE", event.sequence)
    for name, wall, instant in (
        ("DTSTART", event.start_local, event.start_utc),
        ("DTEND", event.end_local, event.end_utc),
    ):
        value = _when(event, wall, instant)
        if value.tzinfo is None:
            vevent.add(name, value, parameters={"TZID": event.timezone})
        else:
            vevent.add(name, value)
    add_what(
        vevent,
        title=event.title,
        description=_description(event),
        location=event.location,
        stream_url=event.stream_url,
        channel=event.channel,
        tags=event.tags,
    )
    vevent.add("STATUS", "CANCELLED" if event.status == CANCELLED else "CONFIRMED")
    vevent.add("TRANSP", "TRANSPARENT")
    if event.actual_start is not None:
        vevent.add("X-BROADCAST-ACTUAL-START", isoformat_utc(event.actual_start))
    if event.actual_end is not None:
        vevent.add("X-BROADCAST-ACTUAL-END", isoformat_utc(event.actual_end))
    part = vevent_part(vevent, event.title, event.reminders, event.status == CANCELLED)
    years = (
        min(event.start_local.year, event.start_utc.year),
        max(event.end_local.year, event.end_utc.year),
    )
    return Piece(
        event.id,
        (event.sequence, event.updated_at),
        event.timezone,
        years,
        event.updated_at,
        (part,),
        frozenset(event.tags),
    )


def zone_windows(pieces: Iterable[Piece]) -> dict[str, tuple[int, int]]:
    """For each zone the feed uses, the first and last year of its events."""
    windows: dict[str, tuple[int, int]] = {}
    for piece in pieces:
        for zone, years in ((piece.zone, piece.years), *piece.more_zones):
            first, last = windows.get(zone, years)
            windows[zone] = (min(first, years[0]), max(last, years[1]))
    return windows


def render_feed(
    meta: CalendarMeta,
    pieces: Sequence[Piece],
    *,
    now: datetime,
    alarms: Sequence[int] | None = None,
) -> bytes:
    """A whole VCALENDAR: head, one VTIMEZONE per zone used, the events' pieces
    (with ``alarms``, minutes before start, instead of each event's own)."""
    cal = Calendar()
    cal.add("PRODID", PRODID)
    cal.add("VERSION", "2.0")
    cal.add("CALSCALE", "GREGORIAN")
    # No METHOD: a subscribed feed is not an iTIP message, and METHOD:PUBLISH
    # would oblige every VEVENT to carry an ORGANIZER (RFC 5546).
    # Text properties the library does not know as TEXT are escaped explicitly.
    cal.add("NAME", vText(meta.name))
    cal.add("X-WR-CALNAME", vText(meta.name))
    if meta.description:
        cal.add("DESCRIPTION", vText(meta.description))
        cal.add("X-WR-CALDESC", vText(meta.description))
    cal.add("REFRESH-INTERVAL", meta.refresh, parameters={"VALUE": "DURATION"})
    cal.add("X-PUBLISHED-TTL", vDuration(meta.refresh))
    cal.add("X-WR-TIMEZONE", meta.default_zone)
    windows = zone_windows(pieces)
    if not windows:
        # An empty calendar must still hold a component to be valid RFC 5545.
        windows = {meta.default_zone: (now.year, now.year)}
    for zone in sorted(windows):
        first, last = windows[zone]
        cal.add_component(build_vtimezone(zone, first, last))
    head = cal.to_ical()
    assert head.endswith(END)
    chosen = alarms
    bodies = [p.body if chosen is None else p.with_alarms(chosen) for p in pieces]
    return b"".join([head[: -len(END)], *bodies, END])
