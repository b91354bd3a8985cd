"""Checking a series' rule and times, and planning its occurrences up to the horizon.

Reading the rule is quick; finding its first occurrence may not be (a rule
that can never match makes dateutil walk to the year 9999), so the checks run
on a worker thread with a deadline (:data:`RULE_CHECK_SECONDS`) and a rule
still searching then is refused as yielding nothing.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta

from scheduler.config import Settings
from scheduler.exceptions import InvalidInput, InvalidRule, InvalidTimeRange
from scheduler.series.rules import (
    Occurrence,
    Recurrence,
    check_limits,
    check_yields,
    first_instant,
    read_rule,
)
from scheduler.timezones import parse_local_time

#: seconds a rule check may take on its worker thread before the rule is refused
RULE_CHECK_SECONDS = 2.0


@dataclass(frozen=True)
class RulePlan:
    """A checked rule and its occurrences up to ``until`` (the horizon)."""

    recurrence: Recurrence
    occurrences: list[Occurrence]
    until: datetime


def wall_time(text: str, field: str) -> datetime:
    try:
        local = parse_local_time(text)
    except InvalidInput as err:
        raise err.for_field(field) from None
    if local.offset is not None:
        raise InvalidInput(
            "give the wall time without a UTC offset: a series runs on its zone's clock",
            field=field,
        )
    return local.wall


async def plan_rule(
    settings: Settings,
    now: datetime,
    zone: str,
    start: datetime,
    end: datetime,
    rule: str,
    *,
    future: bool = False,
) -> RulePlan:
    """Read and check the rule (off the loop), and its occurrences up to the
    horizon (with ``future``, only those after now: a change re-plans no past)."""
    recurrence = read_rule(rule, zone=zone, first_wall=start, first_end=end)
    if recurrence.duration <= timedelta(0):
        raise InvalidTimeRange(
            f"end ({end:%Y-%m-%dT%H:%M}) must be after start ({start:%Y-%m-%dT%H:%M})",
            field="end",
        )
    first = first_instant(zone, start)
    until = max(first, now) + timedelta(days=settings.series_horizon_days)
    after = now if future else None

    def check() -> list[Occurrence]:
        found = check_yields(recurrence)
        if found.recurrence_id != first:
            raise InvalidInput(
                f"{start:%Y-%m-%dT%H:%M} is not an occurrence of the rule {rule!r}: the "
                f"first one is {found.start_local:%Y-%m-%dT%H:%M}; start the series there "
                "(calendar apps disagree on a start the rule does not yield)",
                field="start",
            )
        return check_limits(
            recurrence,
            after=after,
            until=until,
            max_occurrences=settings.series_max_occurrences,
            horizon_days=settings.series_horizon_days,
        )

    try:
        found = await asyncio.wait_for(asyncio.to_thread(check), RULE_CHECK_SECONDS)
    except TimeoutError:
        raise InvalidRule(
            f"{recurrence.text!r} found no occurrence in {RULE_CHECK_SECONDS:g} s of "
            "searching: a rule that can never match (such as BYMONTH=2;BYMONTHDAY=30) "
            "yields no occurrence"
        ) from None
    return RulePlan(recurrence, found, until)
