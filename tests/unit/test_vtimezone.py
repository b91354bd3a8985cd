"""Generated VTIMEZONEs agree with the tz database at every instant of their window.

The VTIMEZONE is read back by icalendar's own interpreter of observances and
RRULEs (``to_tz(lookup_tzid=False)``, so the IANA name is not looked up), and
its offsets are compared with zoneinfo's (tzdata rules, past 2037 too).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from icalendar import Timezone

from scheduler.calendar.vtimezone import build_vtimezone


def to_local(zone: str, instant: datetime) -> datetime:
    """The reference: the standard library's zoneinfo (tzdata rules, past 2037 too)."""
    return instant.astimezone(ZoneInfo(zone))


ZONES = [
    "Europe/Brussels",
    "America/New_York",
    "Australia/Lord_Howe",
    "Asia/Kathmandu",
    "Pacific/Apia",
    "America/Sao_Paulo",  # abolished DST in 2019: its rule must stop (UNTIL)
    "Asia/Jerusalem",  # "Friday before the last Sunday": not a plain BYDAY rule
    "Africa/Casablanca",  # Ramadan breaks in DST
]


def interpreted(zone: str, first: int, last: int) -> Timezone:
    text = build_vtimezone(zone, first, last).to_ical()
    return Timezone.from_ical(text)


@pytest.mark.parametrize("zone", ZONES)
@given(data=st.data())
@settings(max_examples=25, deadline=None)
def test_offsets_match_tz_database(zone: str, data: st.DataObject) -> None:
    # dateutil (under icalendar's to_tz) cannot represent Apia's 24-hour jump of
    # 2011-12-30; the ical.js interop test covers that window instead.
    earliest = 2013 if zone == "Pacific/Apia" else 1996
    first = data.draw(st.integers(min_value=earliest, max_value=2195))
    last = data.draw(st.integers(min_value=first, max_value=min(first + 3, 2199)))
    tz = interpreted(zone, first, last).to_tz(lookup_tzid=False)
    instants = st.datetimes(
        min_value=datetime(first, 1, 1),
        max_value=datetime(last, 12, 31, 23),
        timezones=st.just(UTC),
    )
    for _ in range(20):
        instant = data.draw(instants)
        expected = to_local(zone, instant).utcoffset()
        assert instant.astimezone(tz).utcoffset() == expected, (zone, instant)


@pytest.mark.parametrize(
    ("zone", "first", "last"),
    [
        ("Europe/Brussels", 2020, 2026),
        ("America/New_York", 2020, 2026),
        ("Australia/Lord_Howe", 2020, 2026),
        ("Africa/Casablanca", 2021, 2023),  # negative DST in Ramadan; 2022 was read an hour off
        ("Europe/Brussels", 2037, 2039),  # pytz's tables stopped in 2037: 2038 was an hour off
    ],
)
def test_offsets_exactly_around_each_change(zone: str, first: int, last: int) -> None:
    tz = interpreted(zone, first, last).to_tz(lookup_tzid=False)
    instant = datetime(first, 1, 1, tzinfo=UTC)
    while instant.year <= last:
        expected = to_local(zone, instant).utcoffset()
        assert instant.astimezone(tz).utcoffset() == expected, instant
        instant += timedelta(minutes=30)


def test_regular_zone_is_written_with_yearly_rules() -> None:
    text = build_vtimezone("Europe/Brussels", 2018, 2019).to_ical().decode()
    assert "RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3" in text
    assert "RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10" in text
    assert "RDATE" not in text
    assert "DTSTART:20170326T020000" in text  # onset in local time, before the jump
    assert text.count("BEGIN:DAYLIGHT") == 1


def test_rule_that_stopped_has_until() -> None:
    text = build_vtimezone("America/Sao_Paulo", 2017, 2021).to_ical().decode()
    assert "UNTIL=" in text
