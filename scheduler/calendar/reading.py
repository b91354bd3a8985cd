"""Reading an RFC 5545 file someone else wrote (a Google Calendar or Outlook
export, any feed) into the events it describes, each with its instants and an
IANA zone, or the reason it cannot be one of ours.

Parsing is the ``icalendar`` package's; recurring events are expanded by
``recurring-ical-events`` (RRULE, RDATE, EXDATE and RECURRENCE-ID overrides).
Instants are taken as the file defines them, through its own VTIMEZONE blocks
where it has them, so an imported event starts when the source says. The zone
an event keeps is the IANA name behind its TZID: the name itself, the Olson
zone of a Windows name (``W. Europe Standard Time``, which Outlook writes), or
the trailing Olson name of a ``/vendor/Zone`` TZID; for UTC times and zones
nobody can name, the calendar's ``X-WR-TIMEZONE``, else UTC. All-day events and
floating times (no zone, no ``Z``) are refused per event with the reason: a
broadcast starts at an instant, and guessing one would move it silently.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import icalendar
from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON

from scheduler.calendar.imported import Reading, Refusal, SourceEvent, SourceSeries, uid_key
from scheduler.calendar.recurring import event_uid, instances, recurrence_id, recurrence_text
from scheduler.exceptions import InvalidInput, UnknownTimezone
from scheduler.inputs import without_forbidden
from scheduler.timezones import canonical_zone_name, get_zone, isoformat_utc

#: longest title, description and location an event takes (models.events)
TITLE_MAX, DESCRIPTION_MAX, LOCATION_MAX, URL_MAX = 200, 10000, 500, 2048
ELLIPSIS = "\u2026"


def read_calendar(data: bytes, *, now: datetime, horizon: timedelta) -> Reading:
    """The events in ``data``; recurring ones expanded from ``now`` to ``now + horizon``.

    Raises :class:`InvalidInput` when ``data`` is not an iCalendar file at all.
    """
    calendar = _parse(data)
    default_zone = _default_zone(calendar)
    reading = Reading()
    seen: set[str] = set()
    for component in instances(calendar, now, horizon, reading):
        uid = event_uid(component)
        if not uid:
            reading.refused.append(Refusal("", None, "the event has no UID to import it by"))
            continue
        try:
            rid = recurrence_id(component)
            event = _event(component, uid, rid, default_zone)
        except InvalidInput as err:
            reading.refused.append(Refusal(uid, recurrence_text(component), err.message))
            continue
        except (ValueError, OverflowError, TypeError, KeyError, IndexError) as err:
            reason = f"its times cannot be read: {err}"
            reading.refused.append(Refusal(uid, recurrence_text(component), reason))
            continue
        if event.key in seen:
            reading.refused.append(
                Refusal(uid, isoformat_utc(rid) if rid else None, "appears twice in the file")
            )
            continue
        seen.add(event.key)
        reading.events.append(event)
    series = series_in(calendar, default_zone, now)
    if series:
        reading.series = [s for s in series.values() if uid_key(s.uid) in reading.complete]
        kept = {s.uid for s in reading.series}
        for event in reading.events:
            if event.uid in kept:
                reading.recurring.setdefault(event.uid, []).append(event)
        reading.events = [e for e in reading.events if e.uid not in kept]
    return reading


def series_in(
    calendar: icalendar.Calendar, default_zone: str, now: datetime
) -> dict[str, SourceSeries]:
    """The recurring events of the file that can be our series: one master with
    one RRULE and no RDATE, starting in a named zone. (Whether a new one starts
    recently enough to become a series is the import's call: one imported
    before stays a series as it ages.)"""
    masters: dict[str, list[icalendar.cal.Component]] = {}
    for component in calendar.walk("VEVENT"):
        if "RECURRENCE-ID" not in component and "RRULE" in component:
            masters.setdefault(event_uid(component), []).append(component)
    found = {}
    for uid, (master, *more) in masters.items():
        repeated = any(isinstance(master.get(n), list) for n in ("DTSTART", "DTEND", "RRULE"))
        if more or repeated or "RDATE" in master:
            continue
        try:
            start = master.decoded("DTSTART")
            tzid = master["DTSTART"].params.get("TZID")
            zone = _iana(str(tzid)) if tzid else None
            if not isinstance(start, datetime) or zone is None:
                continue
            event = _event(master, uid, None, default_zone)
            wall = start.replace(tzinfo=None)
            if "DTEND" in master and master["DTEND"].params.get("TZID") == tzid:
                end_wall = master.decoded("DTEND").replace(tzinfo=None)
            else:
                end_wall = wall + (event.end - event.start)
            ical = master["RRULE"].to_ical()
            rule = ical.decode() if isinstance(ical, bytes) else str(ical)
        except (InvalidInput, ValueError, TypeError, KeyError, OverflowError, AttributeError):
            continue  # refused or expanded as occurrences, with the reason
        found[uid] = SourceSeries(
            uid,
            event.title,
            event.description,
            event.location,
            event.stream_url,
            zone,
            wall,
            end_wall,
            rule,
            start.astimezone(UTC),
            _overrides(calendar, uid, default_zone),
        )
    return found


def _overrides(
    calendar: icalendar.Calendar, uid: str, default_zone: str
) -> tuple[SourceEvent, ...]:
    """The file's overrides of one recurring event as it writes them, wherever
    they moved to (in or out of the import window, into the past)."""
    found = []
    for component in calendar.walk("VEVENT"):
        if "RECURRENCE-ID" in component and event_uid(component) == uid:
            try:
                found.append(_event(component, uid, recurrence_id(component), default_zone))
            except (InvalidInput, ValueError, TypeError, KeyError, OverflowError, AttributeError):
                continue  # refused with its reason when the file is expanded
    return tuple(found)


def _parse(data: bytes) -> icalendar.Calendar:
    try:
        calendars = icalendar.Calendar.from_ical(data, multiple=True)
    except (ValueError, KeyError, IndexError, TypeError, UnicodeDecodeError) as err:
        raise InvalidInput(f"not an iCalendar (RFC 5545) file: {err}", field="body") from None
    found = [c for c in calendars if c.name == "VCALENDAR"]
    if len(found) != 1:
        raise InvalidInput(
            "send one iCalendar file (BEGIN:VCALENDAR ... END:VCALENDAR)", field="body"
        )
    return found[0]


def _default_zone(calendar: icalendar.Calendar) -> str:
    """``X-WR-TIMEZONE`` (Google writes it beside UTC times) if it names a zone, else UTC."""
    name = str(calendar.get("X-WR-TIMEZONE", "")).strip()
    return _iana(name) or "UTC"


def _iana(tzid: str) -> str | None:
    """The IANA name behind a TZID, or None when it has none we know."""
    candidates = [tzid.strip().strip("/")]
    if candidates[0] in WINDOWS_TO_OLSON:
        candidates.append(WINDOWS_TO_OLSON[candidates[0]])
    if tzid.startswith("/"):  # /vendor/Europe/Brussels, as libical writes
        parts = candidates[0].split("/")
        candidates += ["/".join(parts[i:]) for i in range(1, len(parts))]
    for name in candidates:
        try:
            return canonical_zone_name(name)
        except UnknownTimezone:
            continue
    return None


def _event(
    component: icalendar.cal.Component, uid: str, rid: datetime | None, default_zone: str
) -> SourceEvent:
    for name in ("DTSTART", "DTEND", "DURATION"):
        if isinstance(component.get(name), list):
            raise InvalidInput(f"{name} appears more than once")
    start_value = component.decoded("DTSTART") if "DTSTART" in component else None
    if start_value is None:
        raise InvalidInput("the event has no DTSTART")
    start = _instant(start_value, "DTSTART", component)
    if "DTEND" in component:
        end = _instant(component.decoded("DTEND"), "DTEND", component)
    elif "DURATION" in component:
        end = start + component.decoded("DURATION")
    else:
        raise InvalidInput("the event has no end (DTEND or DURATION): a stream needs one")
    if end <= start:
        raise InvalidInput("the event ends before it starts")
    zone = _zone_of(component, start_value, default_zone)
    title = _one_line(_text(component.get("SUMMARY"))) or "(no title)"
    return SourceEvent(
        uid=uid,
        recurrence_id=rid,
        title=_cut(title, TITLE_MAX),
        description=_cut_or_none(_text(component.get("DESCRIPTION")), DESCRIPTION_MAX),
        location=_cut_or_none(_one_line(_text(component.get("LOCATION"))), LOCATION_MAX),
        stream_url=_stream_url(component),
        timezone=zone,
        # through UTC: astimezone to the very zone a time already has changes
        # nothing, and a wall time in a spring-forward gap would stay as written
        start=start.astimezone(UTC).astimezone(get_zone(zone)),
        end=end.astimezone(UTC).astimezone(get_zone(zone)),
        cancelled=str(component.get("STATUS", "")).upper() == "CANCELLED",
    )


def _instant(value: Any, name: str, component: icalendar.cal.Component) -> datetime:
    if not isinstance(value, datetime):
        if isinstance(value, date):
            raise InvalidInput(
                "an all-day event (a date without a time) has no start instant; "
                "give it a start and end time to import it"
            )
        raise InvalidInput(f"{name} is not a date-time")
    if value.tzinfo is None:
        tzid = component[name].params.get("TZID")
        if tzid:
            raise InvalidInput(
                f"{name}'s TZID {str(tzid)[:80]!r} names no time zone this server knows, "
                "and the file has no VTIMEZONE for it"
            )
        raise InvalidInput(
            f"{name} is a floating time (no TZID and no Z): it means a different "
            "instant in every zone, so it is not imported"
        )
    return value


def _zone_of(component: icalendar.cal.Component, start: datetime, default_zone: str) -> str:
    tzid = component["DTSTART"].params.get("TZID")
    if tzid:
        return _iana(str(tzid)) or default_zone
    if start.utcoffset() == timedelta(0) and start.tzname() in ("UTC", "Z", None):
        return default_zone  # a UTC time ("Z"): the calendar's own zone, if it says one
    key = getattr(start.tzinfo, "key", None)  # a zoneinfo zone icalendar resolved
    return (_iana(key) if isinstance(key, str) else None) or default_zone


def _text(value: Any) -> str | None:
    if isinstance(value, list):  # a property given twice: the first counts
        value = value[0] if value else None
    if value is None:
        return None
    return without_forbidden(str(value), multiline=True).strip() or None


def _one_line(text: str | None) -> str | None:
    return " ".join(text.split()) if text else text


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + ELLIPSIS


def _cut_or_none(text: str | None, limit: int) -> str | None:
    return _cut(text, limit) if text else None


def _stream_url(component: icalendar.cal.Component) -> str | None:
    """The event's ``URL``, or the conference link Google adds, if it is http(s)."""
    for name in ("URL", "X-GOOGLE-CONFERENCE"):
        value = str(component.get(name, "")).strip()
        linkable = value.startswith(("https://", "http://")) and len(value) <= URL_MAX
        if linkable and not any(c.isspace() for c in value):
            return value
    return None
