"""Local wall times <-> UTC instants, including the gaps and folds of DST."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.exceptions import (
    AmbiguousLocalTime,
    InvalidLocalTime,
    InvalidTimeRange,
    NonexistentLocalTime,
    OffsetMismatch,
    UnknownTimezone,
)
from scheduler.timezones import (
    LocalTime,
    format_offset,
    isoformat_local,
    isoformat_utc,
    parse_local_time,
    resolve_event_times,
    to_local,
    to_utc,
)

ZONES = [
    "Europe/Brussels",
    "America/New_York",
    "Australia/Lord_Howe",  # 30-minute DST
    "Asia/Kathmandu",  # +05:45
    "Pacific/Apia",  # skipped 2011-12-30 entirely
]

instants = st.datetimes(
    min_value=datetime(1970, 1, 1), max_value=datetime(2199, 12, 31), timezones=st.just(UTC)
).map(lambda d: d.replace(microsecond=0))
walls = st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2199, 12, 31)).map(
    lambda d: d.replace(second=0, microsecond=0)
)


def wall(text: str) -> LocalTime:
    return parse_local_time(text)


def test_brussels_event_from_the_article() -> None:
    times = resolve_event_times(
        "Europe/Brussels", wall("2018-05-22T18:15"), wall("2018-05-22T19:30")
    )
    assert isoformat_utc(times.start_utc) == "2018-05-22T16:15:00Z"
    assert isoformat_utc(times.end_utc) == "2018-05-22T17:30:00Z"
    assert isoformat_local("Europe/Brussels", times.start_utc) == "2018-05-22T18:15:00+02:00"
    # the same subscriber in New York sees 12:15
    assert to_local("America/New_York", times.start_utc).strftime("%H:%M") == "12:15"


def test_winter_time_is_plus_one() -> None:
    instant = to_utc("Europe/Brussels", wall("2018-01-22T18:15"))
    assert isoformat_local("Europe/Brussels", instant) == "2018-01-22T18:15:00+01:00"
    assert isoformat_utc(instant) == "2018-01-22T17:15:00Z"


def test_spring_forward_gap_names_the_jump() -> None:
    with pytest.raises(NonexistentLocalTime) as err:
        to_utc("Europe/Brussels", wall("2019-03-31T02:30"))
    assert str(err.value) == (
        "2019-03-31T02:30 does not exist in Europe/Brussels: clocks jump from 02:00 to 03:00"
    )


def test_fall_back_needs_an_offset() -> None:
    with pytest.raises(AmbiguousLocalTime) as err:
        to_utc("Europe/Brussels", wall("2019-10-27T02:30"))
    assert "ambiguous" in str(err.value)
    assert "from 03:00 to 02:00" in str(err.value)
    assert err.value.offsets == ["+02:00", "+01:00"]
    assert isoformat_utc(to_utc("Europe/Brussels", wall("2019-10-27T02:30+01:00"))) == (
        "2019-10-27T01:30:00Z"
    )
    assert isoformat_utc(to_utc("Europe/Brussels", wall("2019-10-27T02:30+02:00"))) == (
        "2019-10-27T00:30:00Z"
    )


def test_lord_howe_half_hour_gap() -> None:
    with pytest.raises(NonexistentLocalTime, match="from 02:00 to 02:30"):
        to_utc("Australia/Lord_Howe", wall("2019-10-06T02:15"))
    with pytest.raises(AmbiguousLocalTime) as err:
        to_utc("Australia/Lord_Howe", wall("2019-04-07T01:45"))
    assert err.value.offsets == ["+11:00", "+10:30"]


def test_apia_skipped_a_whole_day() -> None:
    with pytest.raises(NonexistentLocalTime) as err:
        to_utc("Pacific/Apia", wall("2011-12-30T12:00"))
    assert "clocks jump from 2011-12-30T00:00 to 2011-12-31T00:00" in str(err.value)


def test_offset_that_contradicts_the_zone() -> None:
    with pytest.raises(OffsetMismatch, match=r"on that date it is \+02:00"):
        to_utc("Europe/Brussels", wall("2018-05-22T18:15+01:00"))
    with pytest.raises(OffsetMismatch, match=r"offsets \+02:00 and \+01:00"):
        to_utc("Europe/Brussels", wall("2019-10-27T02:30+05:00"))


@pytest.mark.parametrize("name", ["Mars/Olympus", "", " Europe/Brussels", "../../etc/passwd"])
def test_unknown_zone(name: str) -> None:
    with pytest.raises(UnknownTimezone):
        to_utc(name, wall("2018-05-22T18:15"))


@pytest.mark.parametrize("text", ["tomorrow", "2018-05-22", "2018-13-22T18:15", "18:15", ""])
def test_unreadable_times(text: str) -> None:
    with pytest.raises(InvalidLocalTime):
        parse_local_time(text)


def test_end_must_follow_start() -> None:
    with pytest.raises(InvalidTimeRange) as err:
        resolve_event_times("Europe/Brussels", wall("2018-05-22T19:30"), wall("2018-05-22T18:15"))
    assert err.value.field == "end"
    # equal is not after either
    with pytest.raises(InvalidTimeRange):
        resolve_event_times("Europe/Brussels", wall("2018-05-22T18:15"), wall("2018-05-22T18:15"))


def test_end_after_start_in_utc_even_when_wall_clock_goes_back() -> None:
    # 02:50 CEST (00:50Z) to 02:10 CET (01:10Z): the wall clock goes back, time goes on 20 minutes
    times = resolve_event_times(
        "Europe/Brussels", wall("2019-10-27T02:50+02:00"), wall("2019-10-27T02:10+01:00")
    )
    assert times.end_utc - times.start_utc == timedelta(minutes=20)


def test_zone_name_is_canonicalised() -> None:
    times = resolve_event_times(
        "europe/brussels", wall("2018-05-22T18:15"), wall("2018-05-22T19:30")
    )
    assert times.timezone == "Europe/Brussels"


@pytest.mark.parametrize("zone", ZONES)
@given(instant=instants)
@settings(max_examples=150, deadline=None)
def test_round_trip_from_any_instant(zone: str, instant: datetime) -> None:
    local = to_local(zone, instant)
    offset = local.utcoffset()
    naive = local.replace(tzinfo=None)
    # with its offset every instant comes back exactly
    assert to_utc(zone, LocalTime(naive, offset)) == instant
    # without it, it comes back unless that wall time happens twice
    try:
        assert to_utc(zone, LocalTime(naive)) == instant
    except AmbiguousLocalTime as err:
        assert offset is not None and format_offset(offset) in err.offsets


@pytest.mark.parametrize("zone", ZONES)
@given(local=walls)
@settings(max_examples=200, deadline=None)
def test_any_wall_time_is_exact_gap_or_fold(zone: str, local: datetime) -> None:
    _check_against_zoneinfo(zone, local)


@pytest.mark.parametrize("zone", ZONES)
@given(data=st.data())
@settings(max_examples=200, deadline=None)
def test_gap_and_fold_rules_near_clock_changes(zone: str, data: st.DataObject) -> None:
    # uniform wall times almost never land in a gap or a fold; these all lie
    # within three hours of a clock change, where the rules matter
    _check_against_zoneinfo(zone, data.draw(_near_transitions(zone)))


def _check_against_zoneinfo(zone: str, local: datetime) -> None:
    """``to_utc`` of ``local`` is an exact instant, a gap or a fold as zoneinfo has it."""
    # the reference, from zoneinfo alone: every offset the zone has within two
    # days, and of the instants they would make, those that show ``local``
    tz = ZoneInfo(zone)
    around = (local - timedelta(days=2)).replace(tzinfo=UTC)
    offsets = {(around + timedelta(hours=h)).astimezone(tz).utcoffset() for h in range(97)}
    meaning = {
        u
        for offset in offsets
        if offset is not None
        and (u := (local - offset).replace(tzinfo=UTC)).astimezone(tz).replace(tzinfo=None) == local
    }
    try:
        instant = to_utc(zone, LocalTime(local))
    except NonexistentLocalTime:
        assert meaning == set()  # no instant shows this wall time
    except AmbiguousLocalTime as err:
        assert len(meaning) == 2  # two instants show it
        for offset in err.offsets:
            sign = -1 if offset.startswith("-") else 1
            hours, minutes = offset[1:].split(":")
            delta = sign * timedelta(hours=int(hours), minutes=int(minutes))
            assert to_utc(zone, LocalTime(local, delta)) in meaning
    else:
        assert meaning == {instant}
        assert to_local(zone, instant).replace(tzinfo=None) == local


@cache
def _near_transitions(zone: str) -> st.SearchStrategy[datetime]:
    """Wall times within three hours of one of the zone's clock changes, 1970-2199."""
    tz = ZoneInfo(zone)

    def offset(at: datetime) -> timedelta | None:
        return at.astimezone(tz).utcoffset()

    changes = []
    day = datetime(1970, 1, 1, tzinfo=UTC)
    while day.year < 2200:  # daily samples find the day of a change...
        nxt = day + timedelta(days=1)
        if offset(day) != offset(nxt):
            early, late = day, nxt  # ...and halving it finds the minute
            while late - early > timedelta(minutes=1):
                middle = early + (late - early) / 2
                early, late = (early, middle) if offset(middle) != offset(day) else (middle, late)
            changes.append((late + (offset(early) or timedelta())).replace(tzinfo=None))
        day = nxt
    assert changes, f"{zone} has no clock change to test near"
    return st.builds(
        lambda base, minutes: (base + timedelta(minutes=minutes)).replace(second=0, microsecond=0),
        st.sampled_from(changes),
        st.integers(min_value=-3 * 60, max_value=3 * 60),
    )


def test_a_rule_reads_gaps_and_folds_as_rfc5545_says() -> None:
    from scheduler.timezones import is_unambiguous_wall_time, rule_wall_time

    zone = "Europe/Brussels"
    gap, fold = datetime(2027, 3, 28, 2, 30), datetime(2027, 10, 31, 2, 30)
    assert rule_wall_time(zone, gap).astimezone(UTC) == datetime(2027, 3, 28, 1, 30, tzinfo=UTC)
    assert rule_wall_time(zone, fold).astimezone(UTC) == datetime(2027, 10, 31, 0, 30, tzinfo=UTC)
    assert not is_unambiguous_wall_time(zone, gap)
    assert not is_unambiguous_wall_time(zone, fold)
    assert is_unambiguous_wall_time(zone, datetime(2027, 10, 31, 3, 30))
