"""Local wall-clock times in IANA zones, and the UTC instants they stand for.

An event is entered as a wall time in a zone ("2018-05-22T18:15 in
Europe/Brussels"), optionally with the UTC offset the organiser meant. This
module turns such input into an aware UTC instant and back, and refuses what
cannot be meant: a wall time skipped by a spring-forward jump, one repeated by
a fall-back without an offset to pick, an offset the zone does not have at that
moment, an unknown zone. Conversions use the standard library's ``zoneinfo``
(the system's tz database, or the ``tzdata`` package where there is none),
which knows every year: pytz's tables stop in 2037 and put later summers an
hour off. It is the only module that reads zone rules, and it holds the
``Clock`` type so that everything else can be handed a fake one.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from functools import cache, lru_cache

from scheduler.exceptions import (
    AmbiguousLocalTime,
    InvalidLocalTime,
    InvalidTimeRange,
    NonexistentLocalTime,
    OffsetMismatch,
    UnknownTimezone,
)
from scheduler.inputs import check_year

#: Returns the current instant as an aware UTC datetime; tests pass fake ones.
Clock = Callable[[], datetime]

#: Files in the tz database that are not zones: the host's own setting (whose
#: meaning depends on the machine), a placeholder, and a rules template.
NOT_ZONES = frozenset({"localtime", "Factory", "posixrules", "posix/Factory", "right/Factory"})
#: Transitions are looked for at least this often (no zone changes twice a day).
_SCAN_STEP = timedelta(hours=12)


def system_clock() -> datetime:
    """The real clock: now, in UTC."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class LocalTime:
    """A wall-clock time as entered, with the UTC offset if one was given."""

    wall: datetime  # naive
    offset: timedelta | None = None


@dataclass(frozen=True)
class EventTimes:
    """An event's zone, wall times as entered, and the UTC instants they mean."""

    timezone: str
    start_local: datetime
    end_local: datetime
    start_utc: datetime
    end_utc: datetime


@cache
def _zone_names() -> dict[str, str]:
    """Every zone the tz database knows, by lower-case name (lookups ignore case)."""
    return {name.lower(): name for name in zoneinfo.available_timezones() if name not in NOT_ZONES}


@lru_cache(maxsize=1024)
def get_zone(name: str) -> tzinfo:
    """Return the zone called ``name`` (any case); raise :class:`UnknownTimezone` otherwise."""
    canonical = _zone_names().get(name.lower()) if isinstance(name, str) else None
    if canonical is None:
        raise UnknownTimezone(f"{name!r} is not an IANA time zone name such as Europe/Brussels")
    return zoneinfo.ZoneInfo(canonical)


def canonical_zone_name(name: str) -> str:
    """The zone's own spelling (``europe/brussels`` -> ``Europe/Brussels``)."""
    return str(get_zone(name))


def parse_local_time(text: str) -> LocalTime:
    """Read ``2018-05-22T18:15`` or ``2019-10-27T02:30+01:00`` into a :class:`LocalTime`."""
    if not isinstance(text, str) or ("T" not in text.upper() and " " not in text):
        raise InvalidLocalTime(
            f"{text!r} is not a date and time; write it as YYYY-MM-DDTHH:MM, "
            "optionally followed by a UTC offset such as +02:00"
        )
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as err:
        raise InvalidLocalTime(
            f"{text!r} is not a date and time; write it as YYYY-MM-DDTHH:MM, "
            "optionally followed by a UTC offset such as +02:00"
        ) from err
    check_year(parsed)
    offset = parsed.utcoffset()
    return LocalTime(wall=parsed.replace(tzinfo=None), offset=offset)


def format_offset(offset: timedelta) -> str:
    """``timedelta(hours=5, minutes=45)`` -> ``+05:45``."""
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    hours, mins = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}:{mins:02d}"


def _fmt_wall(wall: datetime) -> str:
    return wall.strftime("%Y-%m-%dT%H:%M:%S" if wall.second else "%Y-%m-%dT%H:%M")


def _offset_at(zone: tzinfo, instant: datetime) -> timedelta:
    offset = instant.astimezone(zone).utcoffset()
    assert offset is not None
    return offset


def _candidates(zone: tzinfo, wall: datetime) -> list[datetime]:
    """The UTC instants whose wall time in ``zone`` is ``wall``, earliest first.

    None for a wall time a spring-forward jump skips, two for one a fall-back
    repeats. ``fold`` gives the offsets either side of a change (PEP 495).
    """
    found = set()
    for fold in (0, 1):
        offset = wall.replace(tzinfo=zone, fold=fold).utcoffset()
        assert offset is not None
        instant = (wall - offset).replace(tzinfo=UTC)
        if instant.astimezone(zone).replace(tzinfo=None) == wall:
            found.add(instant)
    return sorted(found)


def _transition(zone: tzinfo, wall: datetime) -> tuple[datetime, timedelta, timedelta]:
    """Find the clock change around ``wall``: (UTC instant, offset before, offset after).

    The offsets either side come from ``fold``; the change lies between
    ``wall - max`` and ``wall - min`` and is found by bisection to the second.
    """
    offsets = [wall.replace(tzinfo=zone, fold=fold).utcoffset() for fold in (0, 1)]
    hi_off, lo_off = (
        max(o for o in offsets if o is not None),
        min(o for o in offsets if o is not None),
    )
    lo = (wall - hi_off - timedelta(seconds=1)).replace(tzinfo=UTC)
    hi = (wall - lo_off + timedelta(seconds=1)).replace(tzinfo=UTC)
    at, before, after = _bisect(zone, lo, hi)
    return at, before, after


def _bisect(zone: tzinfo, lo: datetime, hi: datetime) -> tuple[datetime, timedelta, timedelta]:
    """The first second in ``(lo, hi]`` whose offset differs from ``lo``'s."""
    before, after = _offset_at(zone, lo), _offset_at(zone, hi)
    state = _state(zone, lo)
    while hi - lo > timedelta(seconds=1):
        mid = (lo + (hi - lo) / 2).replace(microsecond=0)
        if _state(zone, mid) == state:
            lo = mid
        else:
            hi = mid
    return hi, before, after


def _state(
    zone: tzinfo, instant: datetime
) -> tuple[timedelta | None, timedelta | None, str | None]:
    local = instant.astimezone(zone)
    return local.utcoffset(), local.dst(), local.tzname()


def _describe_jump(wall: datetime, at: datetime, before: timedelta, after: timedelta) -> str:
    old = (at + before).replace(tzinfo=None)
    new = (at + after).replace(tzinfo=None)
    if old.date() == new.date() == wall.date():
        return f"{old:%H:%M} to {new:%H:%M}"
    return f"{_fmt_wall(old)} to {_fmt_wall(new)}"


def to_utc(zone_name: str, local: LocalTime) -> datetime:
    """The UTC instant meant by ``local`` in ``zone_name``.

    Without an offset the wall time must exist and be unambiguous; with one,
    the offset must be one the zone has at that wall time (this is how a
    fall-back time is settled).
    """
    zone = get_zone(zone_name)
    wall = local.wall
    instants = _candidates(zone, wall)
    if not instants:
        at, before, after = _transition(zone, wall)
        raise NonexistentLocalTime(
            f"{_fmt_wall(wall)} does not exist in {zone_name}: clocks jump from "
            f"{_describe_jump(wall, at, before, after)}"
        )
    if len(instants) == 2:
        at, before, after = _transition(zone, wall)
        if local.offset in (before, after):
            return (wall - local.offset).replace(tzinfo=UTC)
        first, second = format_offset(before), format_offset(after)
        if local.offset is not None:
            raise OffsetMismatch(
                f"{_fmt_wall(wall)}{format_offset(local.offset)} is not a time in {zone_name}: "
                f"that wall time has the offsets {first} and {second} there"
            )
        raise AmbiguousLocalTime(
            f"{_fmt_wall(wall)} is ambiguous in {zone_name}: it happens twice as clocks go "
            f"back from {_describe_jump(wall, at, before, after)}; add {first} (the first) "
            f"or {second} (the second) to say which, e.g. {_fmt_wall(wall)}{second}",
            offsets=[first, second],
        )
    instant = instants[0]
    actual_offset = _offset_at(zone, instant)
    if local.offset is not None and local.offset != actual_offset:
        actual = format_offset(actual_offset)
        raise OffsetMismatch(
            f"{_fmt_wall(wall)}{format_offset(local.offset)} is not a time in {zone_name}: "
            f"on that date it is {actual} there; send {_fmt_wall(wall)} or "
            f"{_fmt_wall(wall)}{actual}"
        )
    return instant


def rule_wall_time(zone_name: str, wall: datetime) -> datetime:
    """``wall`` as an aware time in ``zone_name`` read the way RFC 5545 (3.3.5)
    reads a recurrence instance: a wall time a spring-forward jump skips takes
    the offset in force before the jump (Brussels 2027-03-28 02:30 -> 01:30Z),
    a repeated one its first occurrence. That is PEP 495's ``fold=0``.

    Unlike :func:`to_utc` this never refuses: a rule means "every day at 02:30"
    even on the day 02:30 does not exist.
    """
    return wall.replace(tzinfo=get_zone(zone_name), fold=0)


def is_unambiguous_wall_time(zone_name: str, wall: datetime) -> bool:
    """Whether ``wall`` exists in ``zone_name`` and happens once there (neither
    skipped nor repeated by a clock change): both readings of PEP 495 agree."""
    zone = get_zone(zone_name)
    first = wall.replace(tzinfo=zone, fold=0)
    return first.utcoffset() == first.replace(fold=1).utcoffset()


def to_local(zone_name: str, instant: datetime) -> datetime:
    """The aware wall time in ``zone_name`` at the UTC ``instant``."""
    return instant.astimezone(get_zone(zone_name))


def as_utc(value: datetime) -> datetime:
    """Read an instant given with any offset as UTC; a naive value, or one outside
    the years the API accepts, is refused."""
    if value.tzinfo is None:
        raise InvalidLocalTime(f"{value.isoformat()} has no UTC offset; add Z or +HH:MM")
    check_year(value)
    return value.astimezone(UTC)


def resolve_event_times(zone_name: str, start: LocalTime, end: LocalTime) -> EventTimes:
    """Check and convert an event's zone, start and end; errors name their field."""
    try:
        zone = canonical_zone_name(zone_name)
    except UnknownTimezone as err:
        raise err.for_field("timezone") from None
    try:
        start_utc = to_utc(zone, start)
    except (NonexistentLocalTime, AmbiguousLocalTime, OffsetMismatch) as err:
        raise err.for_field("start") from None
    try:
        end_utc = to_utc(zone, end)
    except (NonexistentLocalTime, AmbiguousLocalTime, OffsetMismatch) as err:
        raise err.for_field("end") from None
    if end_utc <= start_utc:
        raise InvalidTimeRange(
            f"end ({_fmt_wall(end.wall)}) must be after start ({_fmt_wall(start.wall)}) in {zone}",
            field="end",
        )
    return EventTimes(zone, start.wall, end.wall, start_utc, end_utc)


def isoformat_utc(instant: datetime) -> str:
    """``2018-05-22T16:15:00Z``: the one spelling of UTC instants in the API
    (milliseconds appear only when the instant has them, as operator marks do)."""
    if instant.tzinfo is not UTC:  # rows and the clock are UTC already
        instant = instant.astimezone(UTC)
    text = instant.isoformat(timespec="milliseconds" if instant.microsecond else "seconds")
    return text[:-6] + "Z"  # "+00:00" -> "Z"


def isoformat_local(zone_name: str, instant: datetime) -> str:
    """``2018-05-22T18:15:00+02:00``: the wall time in the event's zone, with offset."""
    return to_local(zone_name, instant).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Transition:
    """One clock change of a zone: at ``utc`` the offset goes from ``before`` to ``after``."""

    utc: datetime
    before: timedelta
    after: timedelta
    is_dst: bool  # whether the new offset is the daylight (higher) one of a seasonal change
    name: str  # abbreviation in force afterwards, e.g. CEST


@lru_cache(maxsize=256)
def transitions(
    zone_name: str, first: datetime, last: datetime
) -> tuple[timedelta, list[Transition]]:
    """The offset in force at ``first`` and every change up to ``last`` (both UTC).

    ``zoneinfo`` does not list its transitions, so they are found by sampling
    the zone every :data:`_SCAN_STEP` and bisecting each change to the second;
    rules after the last listed year (the TZif footer) are followed as well.
    """
    zone = get_zone(zone_name)
    initial = _offset_at(zone, first)
    found: list[Transition] = []
    lo, lo_state = first, _state(zone, first)
    while lo < last:
        hi = min(lo + _SCAN_STEP, last)
        hi_state = _state(zone, hi)
        if hi_state != lo_state:
            at, before, after = _bisect(zone, lo, hi)
            dst_before, dst_after = lo_state[1], hi_state[1]
            # Daylight is the higher offset of a seasonal change. The tz database
            # gives some zones a negative DST (Casablanca's +00 during Ramadan, within
            # +01 all year): written as such, readers that derive the transition
            # instant from the DAYLIGHT/STANDARD pair (dateutil, under icalendar)
            # put the change an hour off. A change of base offset is STANDARD.
            seasonal = bool(dst_before) or bool(dst_after)
            if before != after or lo_state[2] != hi_state[2]:
                found.append(
                    Transition(at, before, after, seasonal and after > before, hi_state[2] or "")
                )
        lo, lo_state = hi, hi_state
    return initial, found


def zone_abbreviation(zone_name: str, instant: datetime) -> str:
    return to_local(zone_name, instant).tzname() or zone_name


def is_dst_at(zone_name: str, instant: datetime) -> bool:
    """Daylight-saving time in the positive sense (see :func:`transitions`)."""
    dst = to_local(zone_name, instant).dst()
    return dst is not None and dst > timedelta(0)


def is_plain_wall_time(zone_name: str, wall: datetime, instant: datetime) -> bool:
    """Whether ``wall`` in ``zone_name`` names ``instant`` and nothing else.

    A wall time in a repeated (fall-back) hour names two instants: RFC 5545
    says a reader takes the first, but ical.js (Thunderbird) and libical
    (Evolution) take the second, so an instant in a repeated hour is written
    in UTC, never as a wall time with ``TZID``.
    """
    return _candidates(get_zone(zone_name), wall) == [instant]
