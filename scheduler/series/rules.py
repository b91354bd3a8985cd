"""Recurrence rules: reading an RFC 5545 RECUR value and expanding it in wall time. Pure.

A series says "every Tuesday at 18:15 Brussels time": the rule runs on the
zone's wall clock from the first start (``dateutil.rrule`` does the reading
and the expansion; nothing here parses a rule), and each occurrence becomes an
instant on its own date, so 18:15 stays 18:15 across DST while the UTC instant
moves by an hour. A wall time a spring-forward jump skips, or one a fall-back
repeats, is read as RFC 5545 3.3.5 says and calendar apps do
(``timezones.rule_wall_time``): Brussels 2027-03-28 02:30 is 01:30Z, and
2027-10-31 02:30 its first pass, 00:30Z. Each occurrence lasts what the first
one lasts, in exact time, as RFC 5545 gives every instance of a DTSTART/DTEND
pair.

What is refused (:class:`~scheduler.exceptions.InvalidRule`, naming ``rrule``):
a value dateutil cannot read or a part RFC 5545 does not define, FREQ=SECONDLY
or MINUTELY (not a broadcast schedule), COUNT with UNTIL, an UNTIL that is
not a UTC time (RFC 5545 asks UTC when DTSTART has a zone), an INTERVAL or
COUNT below 1, and a rule that yields nothing. :func:`check_limits` refuses a
rule that would make more occurrences than a series may hold.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from dateutil.rrule import rrule, rrulestr

from scheduler.exceptions import InvalidRule
from scheduler.timezones import rule_wall_time, to_local

#: RECUR parts of RFC 5545 (3.3.10); dateutil also reads BYEASTER, which is not one
PARTS = frozenset(
    {
        "FREQ",
        "UNTIL",
        "COUNT",
        "INTERVAL",
        "BYSECOND",
        "BYMINUTE",
        "BYHOUR",
        "BYDAY",
        "BYMONTHDAY",
        "BYYEARDAY",
        "BYWEEKNO",
        "BYMONTH",
        "BYSETPOS",
        "WKST",
    }
)
FREQUENCIES = ("HOURLY", "DAILY", "WEEKLY", "MONTHLY", "YEARLY")
REFUSED_FREQUENCIES = ("SECONDLY", "MINUTELY")
_UTC_UNTIL = re.compile(r"^\d{8}T\d{6}Z$")
_POSITIVE = re.compile(r"^[1-9]\d{0,5}$")


@dataclass(frozen=True)
class Occurrence:
    """One instance of a rule: its recurrence id (the start the rule gives, UTC)
    and the instants and wall times it runs at."""

    recurrence_id: datetime
    start_utc: datetime
    end_utc: datetime
    start_local: datetime  # naive wall time in the zone at start_utc
    end_local: datetime
    #: the wall time the rule gave (naive; 02:30 even where 02:30 does not exist):
    #: how a calendar names the instance (RECURRENCE-ID, EXDATE)
    rule_wall: datetime


@dataclass(frozen=True)
class Recurrence:
    """A readable rule bound to its zone and first occurrence."""

    zone: str
    text: str  # as stored: upper case, no prefix
    first_wall: datetime  # naive
    duration: timedelta  # exact, from the first occurrence
    rule: rrule
    count: int | None = None  # COUNT, when the rule has one

    def __iter__(self) -> Iterator[Occurrence]:
        for start in self.rule:
            yield self._occurrence(start)

    def _occurrence(self, start: datetime) -> Occurrence:
        begin = start.astimezone(UTC)
        end = begin + self.duration
        return Occurrence(
            begin,
            begin,
            end,
            to_local(self.zone, begin).replace(tzinfo=None),
            to_local(self.zone, end).replace(tzinfo=None),
            start.replace(tzinfo=None),
        )

    def between(self, after: datetime | None, until: datetime, *, limit: int) -> list[Occurrence]:
        """The occurrences starting after ``after`` (``None``: from the first) and
        no later than ``until``, at most ``limit`` of them."""
        found: list[Occurrence] = []
        for start in self.rule:
            begin = start.astimezone(UTC)
            if begin > until or len(found) >= limit:
                break
            if after is None or begin > after:
                found.append(self._occurrence(start))
        return found

    def first(self) -> Occurrence | None:
        return next(iter(self), None)


def first_instant(zone: str, wall: datetime) -> datetime:
    """The UTC instant of a series' first wall time (read like any instance)."""
    return rule_wall_time(zone, wall).astimezone(UTC)


def read_rule(text: str, *, zone: str, first_wall: datetime, first_end: datetime) -> Recurrence:
    """Check ``text`` and bind it to the zone and first occurrence; the expansion
    is dateutil's. A rule that yields nothing is found by :func:`check_yields`
    (it may take long: run it off the event loop)."""
    normal = text.strip().upper()
    names: list[str] = []
    values: dict[str, str] = {}
    for part in normal.split(";"):
        name, sep, value = part.partition("=")
        if name == "RRULE:FREQ" or name.startswith("RRULE:"):
            raise InvalidRule(
                "write the rule without the 'RRULE:' prefix, e.g. FREQ=WEEKLY;BYDAY=TU"
            )
        if not sep or not value:
            raise InvalidRule(f"{part!r} is not a NAME=VALUE part of an RFC 5545 rule")
        if name not in PARTS:
            raise InvalidRule(f"{name} is not a part of an RFC 5545 recurrence rule")
        if name in values:
            raise InvalidRule(f"{name} appears twice")
        names.append(name)
        values[name] = value
    freq = values.get("FREQ")
    if freq is None:
        raise InvalidRule("FREQ is missing, e.g. FREQ=WEEKLY;BYDAY=TU")
    if freq in REFUSED_FREQUENCIES:
        raise InvalidRule(f"FREQ={freq} is refused: a broadcast schedule repeats hourly at most")
    if freq not in FREQUENCIES:
        raise InvalidRule(f"FREQ={freq} is not a frequency; use DAILY, WEEKLY, MONTHLY or YEARLY")
    if "COUNT" in values and "UNTIL" in values:
        raise InvalidRule("give COUNT or UNTIL, not both (RFC 5545)")
    for name in ("COUNT", "INTERVAL"):
        if name in values and not _POSITIVE.match(values[name]):
            raise InvalidRule(f"{name}={values[name]} must be a whole number from 1 to 999999")
    if "UNTIL" in values and not _UTC_UNTIL.match(values["UNTIL"]):
        raise InvalidRule(
            f"UNTIL={values['UNTIL']} must be a UTC time such as 20271231T235959Z "
            "(RFC 5545 asks UTC when the start has a time zone)"
        )
    start = rule_wall_time(zone, first_wall)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            rule = rrulestr(normal, dtstart=start, cache=False)
    except (ValueError, KeyError, TypeError, IndexError, OverflowError, Warning) as err:
        detail = str(err).strip("'\"") or type(err).__name__
        raise InvalidRule(f"{normal!r} is not a rule we can read: {detail}") from None
    if not isinstance(rule, rrule):  # pragma: no cover - one RRULE line reads as one rrule
        raise InvalidRule("give exactly one rule")
    duration = first_instant(zone, first_end) - start.astimezone(UTC)
    count = int(values["COUNT"]) if "COUNT" in values else None
    return Recurrence(zone, normal, first_wall, duration, rule, count)


def check_yields(recurrence: Recurrence) -> Occurrence:
    """The first occurrence, or :class:`InvalidRule` if the rule yields none.

    A rule that can never match (``BYMONTH=2;BYMONTHDAY=30``) makes dateutil
    walk to the year 9999 before it knows: seconds of CPU. Callers run this on
    a worker thread.
    """
    first = recurrence.first()
    if first is None:
        raise InvalidRule(f"{recurrence.text!r} yields no occurrence from the start given")
    return first


def check_limits(
    recurrence: Recurrence,
    *,
    after: datetime | None,
    until: datetime,
    max_occurrences: int,
    horizon_days: int,
) -> list[Occurrence]:
    """The occurrences after ``after`` (``None``: from the first) up to
    ``until``; refused when there are more than ``max_occurrences`` (the setting
    ``series_max_occurrences``) within the horizon (``series_horizon_days``)."""
    if recurrence.count is not None and recurrence.count > max_occurrences:
        raise InvalidRule(
            f"COUNT={recurrence.count} is more than the limit series_max_occurrences "
            f"({max_occurrences} occurrences per series)"
        )
    found = recurrence.between(after, until, limit=max_occurrences + 1)
    if len(found) > max_occurrences:
        raise InvalidRule(
            f"this rule makes more than {max_occurrences} occurrences within "
            f"series_horizon_days ({horizon_days} days): the limit series_max_occurrences "
            f"is {max_occurrences} per series; use a larger INTERVAL or fewer BY values"
        )
    return found
