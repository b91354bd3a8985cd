"""VTIMEZONE components generated from the tz database, written with RRULEs.

Calendar apps do not all know every IANA zone, and some misread long RDATE
lists, so each zone is written the way Google and Outlook write them: one
STANDARD and one DAYLIGHT observance per run of years in which the clock
changes on the same rule (``FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU``), with
``UNTIL`` where a rule stopped, and single observances for one-off changes.
Onsets are local wall times in the offset in force before the change. The
window covers the years of the events in the feed plus one on each side, and
a test compares the result with the tz database instant by instant.
"""

from __future__ import annotations

import calendar as pycalendar
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from functools import lru_cache

from icalendar import Timezone, TimezoneDaylight, TimezoneStandard

from scheduler.timezones import (
    Transition,
    format_offset,
    is_dst_at,
    transitions,
    zone_abbreviation,
)

WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")


def byday_candidates(local: datetime) -> set[str]:
    """The RRULE ``BYDAY`` values that name ``local``'s date: ``2SU``, and ``-1SU`` if last."""
    day = WEEKDAYS[local.weekday()]
    candidates = {f"{(local.day - 1) // 7 + 1}{day}"}
    if local.day + 7 > pycalendar.monthrange(local.year, local.month)[1]:
        candidates.add(f"-1{day}")
    return candidates


@dataclass
class _Series:
    daylight: bool
    before: timedelta
    after: timedelta
    name: str
    month: int
    at: time
    candidates: set[str]
    first_local: datetime
    last_utc: datetime
    last_year: int
    count: int = 1
    years: list[int] = field(default_factory=list)

    def accepts(self, t: Transition, local: datetime) -> bool:
        return (
            self.daylight == t.is_dst
            and (self.before, self.after, self.name) == (t.before, t.after, t.name)
            and (self.month, self.at) == (local.month, local.time())
            and local.year == self.last_year + 1
            and bool(self.candidates & byday_candidates(local))
        )


def _series(changes: list[Transition]) -> list[_Series]:
    runs: list[_Series] = []
    latest: dict[bool, _Series] = {}
    for t in changes:
        local = (t.utc + t.before).replace(tzinfo=None)
        run = latest.get(t.is_dst)
        if run is not None and run.accepts(t, local):
            run.candidates &= byday_candidates(local)
            run.last_utc, run.last_year, run.count = t.utc, local.year, run.count + 1
            continue
        run = _Series(
            t.is_dst,
            t.before,
            t.after,
            t.name,
            local.month,
            local.time(),
            byday_candidates(local),
            local,
            t.utc,
            local.year,
        )
        runs.append(run)
        latest[t.is_dst] = run
    return runs


def _observance(
    daylight: bool, start: datetime, before: timedelta, after: timedelta, name: str
) -> TimezoneStandard | TimezoneDaylight:
    part = TimezoneDaylight() if daylight else TimezoneStandard()
    part.add("DTSTART", start)
    part.add("TZOFFSETFROM", before)
    part.add("TZOFFSETTO", after)
    part.add("TZNAME", name or format_offset(after))
    return part


@lru_cache(maxsize=512)
def build_vtimezone(zone: str, first_year: int, last_year: int) -> Timezone:
    """A VTIMEZONE for ``zone`` correct for every instant in ``first_year..last_year``."""
    window_start = datetime(first_year - 1, 1, 1, tzinfo=UTC)
    window_end = datetime(last_year + 1, 12, 31, 23, 59, 59, tzinfo=UTC)
    initial, changes = transitions(zone, window_start, window_end)
    vtz = Timezone()
    vtz.add("TZID", zone)
    # The state at the window's start, so instants before the first change are defined.
    start_local = (window_start + initial).replace(tzinfo=None) - timedelta(days=1)
    vtz.add_component(
        _observance(
            is_dst_at(zone, window_start),
            start_local,
            initial,
            initial,
            zone_abbreviation(zone, window_start),
        )
    )
    final_year = window_end.year  # a rule still running at the window's end runs on
    for run in _series(changes):
        part = _observance(run.daylight, run.first_local, run.before, run.after, run.name)
        if run.count > 1:
            # "last Sunday" where it fits (as the EU rule is written), else "2nd Sunday"
            byday = min(run.candidates, key=lambda c: (not c.startswith("-"), c))
            rule: dict[str, object] = {"FREQ": "YEARLY", "BYMONTH": run.month, "BYDAY": byday}
            if run.last_year < final_year:
                # A day past the last onset: inside it whether a reader compares UNTIL
                # as UTC (as RFC 5545 says) or, as some do, against local onsets,
                # and far before the next year's.
                rule["UNTIL"] = run.last_utc + timedelta(days=1)
            part.add("RRULE", rule)
        vtz.add_component(part)
    return vtz
