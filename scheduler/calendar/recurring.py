"""Expanding the recurring events of an imported calendar file into their
occurrences in a window, within bounds: a rule finer than hourly is refused,
at most :data:`MAX_OCCURRENCES` of one event and :data:`MAX_EXPANDED` of all
are built (``recurring-ical-events`` applies overrides and exclusions;
dateutil counts a rule's instants first, in microseconds each)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import icalendar
import recurring_ical_events
from dateutil.rrule import rrulestr

from scheduler.calendar.imported import Reading, Refusal, uid_key
from scheduler.timezones import isoformat_utc

#: occurrences of one recurring event imported, and of all of them in one file
MAX_OCCURRENCES = 1000
MAX_EXPANDED = 20000


def recurrence_id(component: icalendar.cal.Component) -> datetime | None:
    if "RECURRENCE-ID" not in component:
        return None
    value = component.decoded("RECURRENCE-ID")
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC)
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC)  # floating: refused with its DTSTART
    return datetime(value.year, value.month, value.day, tzinfo=UTC)


def event_uid(component: icalendar.cal.Component) -> str:
    """The UID a VEVENT of the file carries (the first, if it gives two)."""
    value = component.get("UID", "")
    return str(value[0] if isinstance(value, list) and value else value).strip()


def recurrence_text(component: icalendar.cal.Component) -> str | None:
    try:
        rid = recurrence_id(component)
    except (ValueError, OverflowError, TypeError, KeyError):
        return None
    return isoformat_utc(rid) if rid else None


def instances(
    calendar: icalendar.Calendar, now: datetime, horizon: timedelta, reading: Reading
) -> Iterator[icalendar.cal.Component]:
    """Single events as they are; recurring ones as their occurrences in the window,
    at most :data:`MAX_OCCURRENCES` each and :data:`MAX_EXPANDED` in all."""
    recurring: dict[str, list[icalendar.cal.Component]] = {}
    for component in calendar.walk("VEVENT"):
        uid = event_uid(component)
        reading.uids.add(uid_key(uid))
        if "RRULE" in component or "RDATE" in component or "RECURRENCE-ID" in component:
            recurring.setdefault(uid, []).append(component)
    for component in calendar.walk("VEVENT"):
        if event_uid(component) not in recurring:
            yield component
    zones = list(calendar.walk("VTIMEZONE"))
    end = now + horizon
    total = 0
    for uid, components in recurring.items():
        reason = _unexpandable(components)
        if reason:
            reading.refused.append(Refusal(uid, None, reason))
            continue
        until, capped = _window_end(components, now, end)
        series = icalendar.Calendar()
        for component in [*zones, *components]:
            series.add_component(component)
        try:
            occurrences = recurring_ical_events.of(series).between(now, until)
        except (ValueError, TypeError, OverflowError, KeyError, AttributeError) as err:
            reading.refused.append(Refusal(uid, None, f"its occurrences cannot be read: {err}"))
            continue
        total += len(occurrences)
        if total > MAX_EXPANDED:
            reading.refused.append(
                Refusal(
                    uid,
                    None,
                    f"the file's recurring events make more than {MAX_EXPANDED} "
                    "occurrences; this one's and the rest are not imported",
                )
            )
            return
        if capped:
            reading.refused.append(
                Refusal(
                    uid,
                    None,
                    f"only its first {MAX_OCCURRENCES} occurrences in the next "
                    "import_horizon_days are imported",
                )
            )
        else:
            reading.complete.add(uid_key(uid))
        yield from occurrences


def _window_end(
    components: list[icalendar.cal.Component], now: datetime, end: datetime
) -> tuple[datetime, bool]:
    """Where to stop expanding a recurring event: ``end``, or sooner when its rule
    makes more than :data:`MAX_OCCURRENCES` occurrences before it (counted by
    dateutil, which walks a rule in microseconds, before the library that applies
    overrides and exclusions builds each one)."""
    master = next(c for c in components if "RECURRENCE-ID" not in c)
    start = master.decoded("DTSTART")
    rules = master.get("RRULE")
    if not isinstance(start, datetime) or rules is None:
        return end, False
    count = 0
    for rule in rules if isinstance(rules, list) else [rules]:
        for instant in rrulestr(rule.to_ical().decode(), dtstart=start):
            moment = instant if instant.tzinfo else instant.replace(tzinfo=UTC)
            if moment >= end:
                break
            if moment >= now - timedelta(days=1):
                count += 1
                if count > MAX_OCCURRENCES:
                    return moment, True
    return end, False


def _unexpandable(components: list[icalendar.cal.Component]) -> str | None:
    """Why a recurring event cannot be expanded (a rule no library reads, or one
    that is not a broadcast schedule), or None."""
    masters = [c for c in components if "RECURRENCE-ID" not in c]
    if not masters:
        return "its occurrences have no master event (a VEVENT without RECURRENCE-ID)"
    if len(masters) > 1:
        return "it has more than one master event"
    if any(isinstance(c.get(n), list) for c in components for n in ("DTSTART", "DTEND")):
        return "DTSTART or DTEND appears more than once in one of its VEVENTs"
    master = masters[0]
    rules = master.get("RRULE")
    for rule in rules if isinstance(rules, list) else [rules] if rules is not None else []:
        try:  # a rule icalendar could not parse raises on first use
            freq = [str(f).upper() for f in rule.get("FREQ", [])]
            if any(f in ("SECONDLY", "MINUTELY") for f in freq):
                return f"FREQ={freq[0]} is not a broadcast schedule (at most hourly)"
            start = master.decoded("DTSTART")
            text = rule.to_ical().decode()
            rrulestr(text, dtstart=start if isinstance(start, datetime) else None)
        except (ValueError, TypeError, KeyError, OverflowError) as err:
            return f"its RRULE cannot be read: {err}"
    return None
