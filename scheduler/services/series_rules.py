"""Checking a series' rule and times, and planning its occurrences up to the horizon.

Reading the rule is quick; finding its first occurrence may not be (a rule
that can never match makes dateutil walk to the year 9999: 3 s for a DAILY
rule, a minute for an HOURLY one), so the checks run on a thread of their own
with a deadline (:data:`RULE_CHECK_SECONDS`), and a rule still searching then
is refused as yielding nothing. dateutil cannot be interrupted, so such a
thread runs on to its end: it is a daemon thread (a stopping server does not
wait for it), and at most :data:`MAX_RUNNING_CHECKS` run at once (beyond, a
503 asks to retry), so a stream of such rules cannot take every core.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from scheduler.config import Settings
from scheduler.exceptions import InvalidInput, InvalidRule, InvalidTimeRange, Overloaded
from scheduler.models import Series
from scheduler.series.rules import (
    Occurrence,
    Recurrence,
    check_limits,
    check_yields,
    first_instant,
    read_rule,
)
from scheduler.timezones import canonical_zone_name, parse_local_time

#: seconds a rule check may take on its thread before the rule is refused
RULE_CHECK_SECONDS = 2.0
#: rule checks running at once in a process (finished or not: see module doc)
MAX_RUNNING_CHECKS = 4

T = TypeVar("T")


class RuleChecks:
    """Runs rule checks on daemon threads, at most :data:`MAX_RUNNING_CHECKS` at once."""

    def __init__(self, limit: int = MAX_RUNNING_CHECKS) -> None:
        self.limit = limit
        self.running = 0

    async def run(self, check: Callable[[], T], *, within: float) -> T:
        """``check()`` on a thread of its own; :class:`TimeoutError` after ``within`` s."""
        if self.running >= self.limit:
            raise Overloaded("too many series rules are being checked at once; retry shortly")
        loop = asyncio.get_running_loop()
        done: asyncio.Future[T] = loop.create_future()

        def settle(result: T | None, error: BaseException | None) -> None:
            self.running -= 1
            if done.done():
                return  # its request gave up waiting
            if error is not None:
                done.set_exception(error)
            else:
                done.set_result(result)  # type: ignore[arg-type]

        def work() -> None:
            try:
                result = check()
            except BaseException as err:  # handed to the waiting request
                loop.call_soon_threadsafe(settle, None, err)
            else:
                loop.call_soon_threadsafe(settle, result, None)

        self.running += 1
        threading.Thread(target=work, name="series-rule-check", daemon=True).start()
        return await asyncio.wait_for(done, within)


@dataclass(frozen=True)
class RulePlan:
    """A checked rule and its occurrences up to ``until`` (the horizon)."""

    recurrence: Recurrence
    occurrences: list[Occurrence]
    until: datetime
    first_end: datetime  # naive wall time the first occurrence ends


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
    checks: RuleChecks,
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
        found = await checks.run(check, within=RULE_CHECK_SECONDS)
    except TimeoutError:
        raise InvalidRule(
            f"{recurrence.text!r} found no occurrence in {RULE_CHECK_SECONDS:g} s of "
            "searching: a rule that can never match (such as BYMONTH=2;BYMONTHDAY=30) "
            "yields no occurrence"
        ) from None
    return RulePlan(recurrence, found, until, end)


async def plan_change(
    settings: Settings,
    now: datetime,
    current: Series,
    fields: dict[str, Any],
    *,
    checks: RuleChecks,
) -> RulePlan | None:
    """The checked rule of a series changed by ``fields`` (a ``PATCH``), with its
    future occurrences; ``None`` when its zone, times and rule stay as they are."""
    if not {"timezone", "start", "end", "rrule"} & fields.keys():
        return None
    try:
        zone = canonical_zone_name(fields.get("timezone", current.timezone))
    except InvalidInput as err:
        raise err.for_field("timezone") from None
    start = wall_time(fields["start"], "start") if "start" in fields else current.start_local
    end = wall_time(fields["end"], "end") if "end" in fields else current.end_local
    rule = fields.get("rrule", current.rrule)
    return await plan_rule(settings, now, zone, start, end, rule, checks=checks, future=True)
