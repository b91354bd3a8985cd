"""Trigger planning and the verdict on a due trigger: pure rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from scheduler.models import EventType, TriggerState
from scheduler.reminders.planning import Verdict, judge, plan_schedule, trigger_id

NOW = datetime(2018, 5, 22, 12, 0, tzinfo=UTC)
START = datetime(2018, 5, 22, 16, 15, tzinfo=UTC)
END = datetime(2018, 5, 22, 17, 30, tzinfo=UTC)


def test_plan_has_reminders_start_and_end() -> None:
    plan = plan_schedule(event_id="e1", start_utc=START, end_utc=END, reminders=[15, 60], now=NOW)
    assert [(p.type, p.minutes_before, p.due_at) for p in plan] == [
        (EventType.REMINDER, 60, START - timedelta(minutes=60)),
        (EventType.REMINDER, 15, START - timedelta(minutes=15)),
        (EventType.STARTED, None, START),
        (EventType.ENDED, None, END),
    ]
    assert {p.id for p in plan} == {"e1:reminder:60", "e1:reminder:15", "e1:started", "e1:ended"}


def test_past_times_are_skipped() -> None:
    now = START - timedelta(minutes=30)
    plan = plan_schedule(event_id="e1", start_utc=START, end_utc=END, reminders=[15, 60], now=now)
    states = {p.id: p.state for p in plan}
    assert states["e1:reminder:60"] is TriggerState.SKIPPED
    assert states["e1:reminder:15"] is TriggerState.PENDING


@given(
    start=st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2035, 1, 1), timezones=st.just(UTC)
    ),
    minutes=st.lists(st.integers(min_value=0, max_value=40320), max_size=10),
)
def test_reminders_are_exact_utc_offsets(start: datetime, minutes: list[int]) -> None:
    plan = plan_schedule(
        event_id="e",
        start_utc=start,
        end_utc=start + timedelta(hours=1),
        reminders=minutes,
        now=NOW,
    )
    reminders = [p for p in plan if p.type is EventType.REMINDER]
    assert len(reminders) == len(set(minutes))
    for p in reminders:
        assert p.minutes_before is not None
        assert start - p.due_at == timedelta(minutes=p.minutes_before)
    # ids are deterministic: planning again gives the same ids
    again = plan_schedule(
        event_id="e",
        start_utc=start,
        end_utc=start + timedelta(hours=1),
        reminders=minutes,
        now=NOW,
    )
    assert [p.id for p in plan] == [p.id for p in again]


def _judge(type_: EventType, due: datetime, now: datetime, **kw: object) -> Verdict:
    values: dict[str, object] = {
        "event_status": "scheduled",
        "event_start": START,
        "actual_start": None,
        "actual_end": None,
        "grace_seconds": 900,
    }
    values.update(kw)
    return judge(type_=type_, due_at=due, now=now, **values)  # type: ignore[arg-type]


def test_verdicts() -> None:
    due = START - timedelta(minutes=15)
    assert _judge(EventType.REMINDER, due, due + timedelta(seconds=1)) is Verdict.FIRE
    assert _judge(EventType.REMINDER, due, START) is Verdict.EXPIRED
    assert _judge(EventType.REMINDER, due, due, actual_start=due) is Verdict.EXPIRED
    assert _judge(EventType.STARTED, START, START + timedelta(seconds=901)) is Verdict.MISSED
    assert _judge(EventType.STARTED, START, START + timedelta(seconds=899)) is Verdict.FIRE
    assert (
        _judge(EventType.STARTED, START, START, actual_start=START - timedelta(minutes=2))
        is Verdict.SUPERSEDED
    )
    assert _judge(EventType.ENDED, END, END, event_status="cancelled") is Verdict.CANCELLED
    assert _judge(EventType.CANCELLED, NOW, NOW, event_status="cancelled") is Verdict.FIRE


def test_trigger_ids() -> None:
    assert trigger_id("e", EventType.UPDATED, sequence=3) == "e:updated:3"
    assert trigger_id("e", EventType.CANCELLED) == "e:cancelled"
