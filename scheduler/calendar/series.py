"""A recurring series in a feed: one RRULE master and its overrides. Pure.

Calendar apps expand the master themselves, so a series is one VEVENT with
``DTSTART;TZID=...`` (its zone's VTIMEZONE goes in the feed), the ``RRULE`` as
the broadcaster gave it and ``EXDATE``s for the instances that do not happen
(removed by a rule change, cancelled by a pause or with the series). Every
instance that differs from what the master says gets its own VEVENT with the
same ``UID``, a ``RECURRENCE-ID`` naming the instance as the rule does, and its
own ``SEQUENCE``: an exception (moved, renamed, cancelled with
``STATUS:CANCELLED``), an occurrence an operator started, and an instance in a
skipped or repeated hour, whose start is written in UTC so that readers that
misread such wall times (ical.js, libical) still land on the instant the API
shows. Occurrences the rule no longer yields but that still happen are written
as events of their own. A cancelled series' RRULE ends at its cancellation.

Which instance is which is decided by ``services.series_feed``; this module
only writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from icalendar import Event as VEvent
from icalendar import vRecur

from scheduler.calendar.render import (
    Piece,
    VeventPart,
    add_what,
    event_uid,
    render_vevent,
    vevent_part,
)
from scheduler.models import Event, Series, SeriesPause
from scheduler.models.series import SERIES_CANCELLED


@dataclass(frozen=True)
class MasterPlan:
    """What a series' part of a feed holds (see module doc)."""

    series: Series
    exdates: Sequence[datetime]  # naive rule wall times in the series' zone
    overrides: Sequence[tuple[Event, datetime]]  # the row, its instance's rule wall time
    standalone: Sequence[Event]
    pauses: Sequence[SeriesPause]
    until: datetime | None  # UTC end of the rule for a cancelled series
    last_year: int  # of the occurrences held


def series_uid(series_id: str, domain: str) -> str:
    return event_uid(series_id, domain)


def _master(plan: MasterPlan, uid: str) -> VeventPart:
    series = plan.series
    vevent = VEvent()
    vevent.add("UID", uid)
    vevent.add("DTSTAMP", series.updated_at)
    vevent.add("CREATED", series.created_at)
    vevent.add("LAST-MODIFIED", series.updated_at)
    vevent.add("SEQUENCE", series.sequence)
    vevent.add("DTSTART", series.start_local, parameters={"TZID": series.timezone})
    vevent.add("DTEND", series.end_local, parameters={"TZID": series.timezone})
    rule = vRecur.from_ical(series.rrule)
    if plan.until is not None:
        rule.pop("COUNT", None)
        rule["UNTIL"] = [plan.until]
    vevent.add("RRULE", rule)
    if plan.exdates:
        vevent.add("EXDATE", list(plan.exdates), parameters={"TZID": series.timezone})
    parts = [series.description] if series.description else []
    if series.stream_url:
        parts.append(f"Live stream: {series.stream_url}")
    add_what(
        vevent,
        title=series.title,
        description="\n\n".join(parts),
        location=series.location,
        stream_url=series.stream_url,
        channel=series.channel,
        tags=series.tags,
    )
    for pause in plan.pauses:
        reason = f": {pause.reason}" if pause.reason else ""
        vevent.add(
            "COMMENT",
            f"Paused {pause.start_date.isoformat()} to {pause.end_date.isoformat()}{reason}",
        )
    vevent.add("STATUS", "CONFIRMED")
    vevent.add("TRANSP", "TRANSPARENT")
    cancelled = series.status == SERIES_CANCELLED
    return vevent_part(vevent, series.title, series.reminders, cancelled)


def render_series(plan: MasterPlan, *, uid_domain: str) -> Piece:
    """The series' master, its overrides and its stand-alone occurrences, as one piece."""
    series = plan.series
    uid = series_uid(series.id, uid_domain)
    parts = [_master(plan, uid)]
    zones: dict[str, tuple[int, int]] = {}
    latest = series.updated_at
    for event, wall in plan.overrides:
        piece = render_vevent(
            event, uid_domain=uid_domain, uid=uid, recurrence=(series.timezone, wall)
        )
        parts.extend(piece.vevents)
        _widen(zones, piece)
        latest = max(latest, event.updated_at)
    for event in plan.standalone:
        piece = render_vevent(event, uid_domain=uid_domain)
        parts.extend(piece.vevents)
        _widen(zones, piece)
        latest = max(latest, event.updated_at)
    first = min(series.start_local.year, series.created_at.year)
    years = (first, max(plan.last_year, series.start_local.year))
    others = tuple((z, y) for z, y in sorted(zones.items()) if z != series.timezone)
    if series.timezone in zones:
        own = zones[series.timezone]
        years = (min(years[0], own[0]), max(years[1], own[1]))
    return Piece(
        series.id,
        (series.sequence, latest),
        series.timezone,
        years,
        latest,
        tuple(parts),
        frozenset(series.tags),
        others,
    )


def _widen(zones: dict[str, tuple[int, int]], piece: Piece) -> None:
    first, last = zones.get(piece.zone, piece.years)
    zones[piece.zone] = (min(first, piece.years[0]), max(last, piece.years[1]))
