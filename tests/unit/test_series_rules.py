"""Series rules, pure: dateutil's expansion in wall time, RFC 5545's reading of
skipped and repeated hours, and rule checks that cannot run away with the CPU."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta

import pytest

from scheduler.exceptions import InvalidRule, Overloaded
from scheduler.series.rules import check_limits, read_rule
from scheduler.services.series_rules import RuleChecks


def _rule(text: str, start: datetime, minutes: int = 60) -> list[datetime]:
    recurrence = read_rule(
        text, zone="Europe/Brussels", first_wall=start, first_end=start + timedelta(minutes=minutes)
    )
    return [
        o.start_utc for o in recurrence.between(None, datetime(2030, 1, 1, tzinfo=UTC), limit=50)
    ]


def test_weekly_wall_time_moves_its_instant_by_an_hour() -> None:
    found = _rule("FREQ=WEEKLY;COUNT=3", datetime(2027, 3, 23, 18, 15))
    assert [f.isoformat() for f in found] == [
        "2027-03-23T17:15:00+00:00",
        "2027-03-30T16:15:00+00:00",
        "2027-04-06T16:15:00+00:00",
    ]


def test_gap_and_fold_instances() -> None:
    spring = _rule("FREQ=DAILY;COUNT=3", datetime(2027, 3, 27, 2, 30))
    assert [f.strftime("%d %H:%M") for f in spring] == ["27 01:30", "28 01:30", "29 00:30"]
    autumn = _rule("FREQ=DAILY;COUNT=3", datetime(2027, 10, 30, 2, 30))
    assert [f.strftime("%d %H:%M") for f in autumn] == ["30 00:30", "31 00:30", "01 01:30"]


@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        ("FREQ=FOO", "not a frequency"),
        ("FREQ=WEEKLY;BYDAY=XX", "not a rule we can read"),
        ("FREQ=WEEKLY;BYEASTER=1", "not a part"),
        ("FREQ=SECONDLY", "refused"),
        ("FREQ=DAILY;COUNT=2;COUNT=3", "twice"),
        ("FREQ=DAILY;COUNT=0", "COUNT=0"),
        ("COUNT=2", "FREQ is missing"),
        ("FREQ=DAILY;;COUNT=2", "NAME=VALUE"),
    ],
)
def test_unreadable_rules_are_refused(text: str, phrase: str) -> None:
    with pytest.raises(InvalidRule) as caught:
        _rule(text, datetime(2027, 1, 5, 18, 15))
    assert phrase in caught.value.message and caught.value.field == "rrule"


def test_limits_name_the_setting() -> None:
    recurrence = read_rule(
        "FREQ=HOURLY",
        zone="UTC",
        first_wall=datetime(2027, 1, 1),
        first_end=datetime(2027, 1, 1, 0, 30),
    )
    with pytest.raises(InvalidRule, match="series_max_occurrences"):
        check_limits(
            recurrence,
            after=None,
            until=datetime(2027, 3, 1, tzinfo=UTC),
            max_occurrences=1000,
            horizon_days=400,
        )


async def test_rule_checks_run_aside_and_are_bounded() -> None:
    checks = RuleChecks(limit=1)
    release = threading.Event()
    with pytest.raises(TimeoutError):
        await checks.run(lambda: release.wait(5), within=0.05)
    assert checks.running == 1  # dateutil cannot be stopped: its thread runs on
    with pytest.raises(Overloaded):
        await checks.run(lambda: 1, within=1)
    release.set()
    for _ in range(100):
        if checks.running == 0:
            break
        await asyncio.sleep(0.01)
    assert checks.running == 0
    assert await checks.run(lambda: 42, within=1) == 42
    with pytest.raises(InvalidRule):
        await checks.run(lambda: (_ for _ in ()).throw(InvalidRule("no")), within=1)
