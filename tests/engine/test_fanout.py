"""Fan-out and endpoint health: the engine's pure decisions, on an injected clock."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from scheduler.models import (
    DeliveryState,
    Event,
    EventType,
    Subscription,
    Trigger,
    TriggerState,
)
from scheduler.reminders.endpoint_health import judge_endpoint
from scheduler.reminders.fanout import audience_keys, fan_out
from scheduler.reminders.preparing import Pacing
from scheduler.webhooks.delivery import Outcome
from tests.conftest import FakeClock

T0 = datetime(2018, 5, 22, 16, 15, tzinfo=UTC)  # 18:15 Brussels


def event(**fields: object) -> Event:
    values: dict[str, object] = {
        "id": "ev1",
        "title": "Plenary",
        "timezone": "Europe/Brussels",
        "start_local": datetime(2018, 5, 22, 18, 15),
        "end_local": datetime(2018, 5, 22, 19, 30),
        "start_utc": T0,
        "end_utc": T0 + timedelta(minutes=75),
        "reminders": [15],
        "channel": "plenary",
        "created_at": T0 - timedelta(days=1),
        "updated_at": T0 - timedelta(days=1),
    }
    values.update(fields)
    return Event(**values)


def trigger(type_: EventType, due: datetime, **fields: object) -> Trigger:
    return Trigger(
        id=f"tr-{type_.value}",
        event_id="ev1",
        type=type_.value,
        due_at=due,
        claim_attempt=1,
        **fields,
    )


def sub(sub_id: str) -> Subscription:
    return Subscription(id=sub_id, url=f"https://hooks.example/{sub_id}", types=[], secret="s")


def run(claimed: list[Trigger], clock: FakeClock, events: dict[str, Event] | None = None):  # type: ignore[no-untyped-def]
    events = {"ev1": event()} if events is None else events
    audience = {key: [sub("a"), sub("b")] for key in audience_keys(claimed, events)}
    return fan_out(
        claimed,
        events=events,
        audience=audience,
        clock=clock,
        owner="me",
        lease=timedelta(seconds=60),
        grace_seconds=300,
    )


def test_a_trigger_due_later_is_prepared_with_its_messages_claimed_by_this_process() -> None:
    clock = FakeClock(T0 - timedelta(seconds=1))
    out = run([trigger(EventType.STARTED, T0)], clock)
    assert out.judged == []
    prepared = out.prepared["tr-event.started"]
    assert prepared.state is TriggerState.FIRED
    assert prepared.lifecycle is not None  # a start changes the event's state at its instant
    assert [d["subscription_id"] for d in out.deliveries] == ["a", "b"]
    for row in out.deliveries:
        assert row["state"] == DeliveryState.DELIVERING.value
        assert row["claimed_by"] == "me"
        assert row["next_attempt_at"] == T0
        body = json.loads(row["payload"])
        assert body["data"]["late_by_seconds"] == 0
        assert body["timestamp"] == "2018-05-22T16:15:00Z"  # as of its own instant


def test_a_trigger_due_already_is_judged_now_and_says_how_late() -> None:
    clock = FakeClock(T0 + timedelta(seconds=4))
    out = run([trigger(EventType.STARTED, T0)], clock)
    assert out.prepared == {}
    [judged] = out.judged
    assert judged.state is TriggerState.FIRED
    assert judged.late == 4.0
    assert [e.id for e in out.lifecycle] == ["ev1"]
    assert json.loads(out.deliveries[0]["payload"])["data"]["late_by_seconds"] == 4.0


def test_past_the_grace_a_trigger_is_missed_and_sends_nothing() -> None:
    clock = FakeClock(T0 + timedelta(seconds=301))
    out = run([trigger(EventType.STARTED, T0)], clock)
    assert [j.state for j in out.judged] == [TriggerState.MISSED]
    assert out.deliveries == []


def test_a_cancelled_events_start_is_cancelled_and_sends_nothing() -> None:
    clock = FakeClock(T0 - timedelta(seconds=1))
    out = run([trigger(EventType.STARTED, T0)], clock, {"ev1": event(status="cancelled")})
    assert out.prepared["tr-event.started"].state is TriggerState.CANCELLED
    assert out.deliveries == []


def test_a_deleted_events_trigger_sends_nothing() -> None:
    clock = FakeClock(T0)
    out = run([trigger(EventType.REMINDER, T0, minutes_before=15)], clock, {})
    assert out.deliveries == []


def test_delivery_ids_are_stable_per_trigger_generation_and_webhook() -> None:
    clock = FakeClock(T0 - timedelta(seconds=1))
    first = run([trigger(EventType.STARTED, T0)], clock)
    again = run([trigger(EventType.STARTED, T0)], clock)
    moved = run([trigger(EventType.STARTED, T0, generation=1)], clock)
    ids = [d["id"] for d in first.deliveries]
    assert ids == [d["id"] for d in again.deliveries]  # a repeat is the same webhook-id
    assert set(ids).isdisjoint(d["id"] for d in moved.deliveries)


def test_endpoint_health_decisions() -> None:
    now = T0
    day = timedelta(hours=24)
    ok = judge_endpoint(
        outcome=Outcome.SUCCESS, failing_since=None, now=now, error=None, disable_after=day
    )
    assert not ok.changes_failing_since and ok.deactivate is None
    healed = judge_endpoint(
        outcome=Outcome.SUCCESS, failing_since=now - day, now=now, error=None, disable_after=day
    )
    assert healed.changes_failing_since and healed.failing_since is None
    first = judge_endpoint(
        outcome=Outcome.RETRY, failing_since=None, now=now, error="HTTP 500", disable_after=day
    )
    assert first.changes_failing_since and first.failing_since == now and not first.deactivate
    still = judge_endpoint(
        outcome=Outcome.RETRY,
        failing_since=now - timedelta(hours=23),
        now=now,
        error="HTTP 500",
        disable_after=day,
    )
    assert not still.changes_failing_since and still.deactivate is None
    over = judge_endpoint(
        outcome=Outcome.RETRY, failing_since=now - day, now=now, error="HTTP 500", disable_after=day
    )
    assert over.deactivate is not None and "HTTP 500" in over.deactivate
    gone = judge_endpoint(
        outcome=Outcome.GONE, failing_since=None, now=now, error="HTTP 410", disable_after=day
    )
    assert gone.deactivate == "the endpoint answered 410 Gone"


def test_the_first_burst_after_a_start_is_prepared_early_enough() -> None:
    """Issue 13, defect 4: nothing measured yet, 1,000 triggers in one second. A
    cold process took ~3 ms a trigger (p99 50 ms late when prepared 2 s ahead);
    the pacing must assume a cold cost until it has measured one."""
    pacing = Pacing(timedelta(seconds=2), horizon_seconds=60)
    assert pacing.lead(0) == timedelta(seconds=1)  # half the lookahead
    assert pacing.lead(1000) >= timedelta(seconds=1 + 1000 * 0.003)
    assert pacing.lead(10**9) <= timedelta(seconds=31)  # bounded by half the horizon


def test_pacing_learns_the_cost_it_measures() -> None:
    pacing = Pacing(timedelta(seconds=2), horizon_seconds=60)
    pacing.measured(seconds=0.25, triggers=500)  # 0.5 ms each: the first pass decides
    assert pacing.lead(1000) == timedelta(seconds=1.5)
    for _ in range(20):
        pacing.measured(seconds=2.5, triggers=500)  # then 5 ms each: it follows
    assert pacing.lead(1000) > timedelta(seconds=5.5)
