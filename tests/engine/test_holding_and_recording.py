"""The engine's stateful rooms on an injected clock: holding and releasing
prepared messages, writing outcomes and completions in batches.

Real SQLite (a file per test); the application clock is a ``FakeClock``, so the
instants below are the test's own and only the short loop timers of the
prepared messages take real time.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from scheduler.metrics import Metrics
from scheduler.models import (
    Delivery,
    DeliveryAttempt,
    DeliveryState,
    Event,
    Subscription,
    Trigger,
    TriggerState,
)
from scheduler.reminders.completions import Completions
from scheduler.reminders.messages import Message
from scheduler.reminders.outcomes import AttemptRecord, OutcomeWriter
from scheduler.reminders.prepared import Prepared, PreparedMessages
from scheduler.store.database import Database
from scheduler.webhooks.delivery import AttemptResult, Outcome
from tests.conftest import FakeClock, make_settings

T0 = datetime(2018, 5, 22, 16, 15, tzinfo=UTC)


class RunningClock:
    """An injected clock that starts at ``T0`` and runs with the event loop's time
    (prepared messages re-arm their timers against it until the instant comes)."""

    def __init__(self) -> None:
        self._start = asyncio.get_running_loop().time()

    def __call__(self) -> datetime:
        return T0 + timedelta(seconds=asyncio.get_running_loop().time() - self._start)


def held(trigger_id: str, event_id: str, due: datetime, sub: Subscription) -> Prepared:
    trigger = Trigger(id=trigger_id, event_id=event_id, type="event.started", due_at=due)
    delivery = Delivery.model_construct(id=f"msg_{trigger_id}", subscription_id=sub.id)
    return Prepared(trigger, TriggerState.FIRED, sends=[Message(delivery, sub)])


@pytest.fixture
def released() -> Iterator[list[tuple[datetime, list[str]]]]:
    yield []


async def test_prepared_messages_go_at_their_instant_unless_withdrawn(
    released: list[tuple[datetime, list[str]]],
) -> None:
    clock = RunningClock()
    came = asyncio.Event()

    def on_due(due: datetime, items: list[Prepared]) -> None:
        released.append((due, [i.trigger.id for i in items]))
        came.set()

    messages = PreparedMessages(clock, on_due)
    hook = Subscription(
        id="s1", url="https://hooks.example/a", types=[], secret="x", created_at=T0, updated_at=T0
    )
    due = T0 + timedelta(seconds=0.15)
    messages.hold([held("a", "ev-a", due, hook), held("b", "ev-b", due, hook)])
    assert messages.next_instant() == due
    assert messages.delivery_ids() == {"msg_a", "msg_b"}
    messages.withdraw(lambda p: p.trigger.event_id != "ev-a")  # ev-a changed
    began = asyncio.get_running_loop().time()
    await asyncio.wait_for(came.wait(), 2)
    waited = asyncio.get_running_loop().time() - began
    assert released == [(due, ["b"])]
    assert 0.1 <= waited < 0.5
    assert messages.next_instant() is None


async def test_a_withdrawn_instant_never_fires(released: list[Any]) -> None:
    clock = RunningClock()
    messages = PreparedMessages(clock, lambda due, items: released.append(due))
    hook = Subscription(
        id="s1", url="https://hooks.example/a", types=[], secret="x", created_at=T0, updated_at=T0
    )
    messages.hold([held("a", "ev-a", T0 + timedelta(seconds=0.05), hook)])
    assert len(messages.withdraw()) == 1
    await asyncio.sleep(0.2)
    assert released == []


async def test_a_changed_webhook_replaces_or_drops_its_held_messages() -> None:
    clock = RunningClock()
    got: list[Prepared] = []
    messages = PreparedMessages(clock, lambda due, items: got.extend(items))
    old = Subscription(
        id="s1", url="https://hooks.example/old", types=[], secret="x", created_at=T0, updated_at=T0
    )
    other = Subscription(
        id="s2",
        url="https://hooks.example/other",
        types=[],
        secret="y",
        created_at=T0,
        updated_at=T0,
    )
    item = held("a", "ev-a", T0 + timedelta(seconds=0.05), old)
    item.sends.append(Message(item.sends[0].delivery, other, {"webhook-id": "signed"}))
    messages.hold([item])
    moved = Subscription(
        id="s1", url="https://hooks.example/new", types=[], secret="z", created_at=T0, updated_at=T0
    )
    messages.replace_subscription("s1", moved)
    messages.replace_subscription("s2", None)  # deleted
    await asyncio.sleep(0.2)
    [sends] = [i.sends for i in got]
    assert [(m.sub.url if m.sub else None, m.headers) for m in sends] == [
        ("https://hooks.example/new", None)  # signed again when sent: its secret changed
    ]


@asynccontextmanager
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'engine.db'}")
    await db.upgrade()
    try:
        yield db
    finally:
        await db.dispose()


async def seed(db: Database, subs: list[Subscription], deliveries: int) -> list[Delivery]:
    event = Event(
        id="ev1",
        title="Plenary",
        timezone="Europe/Brussels",
        start_local=datetime(2018, 5, 22, 18, 15),
        end_local=datetime(2018, 5, 22, 19, 30),
        start_utc=T0,
        end_utc=T0 + timedelta(minutes=75),
        created_at=T0,
        updated_at=T0,
    )
    rows = [
        Delivery(
            id=f"msg_{i}",
            subscription_id=subs[i % len(subs)].id,
            event_id="ev1",
            type="event.started",
            payload="{}",
            state=DeliveryState.DELIVERING.value,
            claimed_by="me",
            claim_attempt=1,
            claim_expires_at=T0 + timedelta(minutes=1),
            next_attempt_at=T0,
            created_at=T0,
        )
        for i in range(deliveries)
    ]
    async with db.session() as session:
        session.add(event)
        session.add_all(subs)
        await session.flush()
        session.add_all(rows)
    return [Delivery.model_construct(**r.model_dump()) for r in rows]


def counting_sessions(db: Database) -> list[int]:
    opened: list[int] = []
    real = db.session

    def counted() -> Any:
        opened.append(1)
        return real()

    db.session = counted  # type: ignore[method-assign]
    return opened


async def test_outcomes_are_written_together_with_retries_and_endpoint_health(
    tmp_path: Path,
) -> None:
    clock = FakeClock(T0)
    settings = make_settings(
        tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'engine.db'}", webhook_retry_schedule=(5, 60)
    )
    healthy = Subscription(
        id="s-ok", url="https://a.example/", types=[], secret="x", created_at=T0, updated_at=T0
    )
    gone = Subscription(
        id="s-gone", url="https://b.example/", types=[], secret="y", created_at=T0, updated_at=T0
    )
    async with database(tmp_path) as db:
        rows = await seed(db, [healthy, gone], deliveries=6)  # even: healthy, odd: gone
        retries: list[datetime] = []
        finished: set[str] = set()
        writer = OutcomeWriter(
            db,
            settings,
            clock,
            Metrics(),
            owner="me",
            quiet=lambda: asyncio.sleep(0),
            schedule_retry=retries.append,
            written=finished.update,
        )
        sessions = counting_sessions(db)
        for row in rows:
            if row.subscription_id == "s-gone":
                result = AttemptResult(Outcome.GONE, 410, 12.0, "HTTP 410 Gone")
            elif row.id == "msg_0":
                result = AttemptResult(Outcome.RETRY, 500, 1000.0, "HTTP 500")
            else:
                result = AttemptResult(Outcome.SUCCESS, 200, 8.0)
            sub = healthy if row.subscription_id == "s-ok" else gone
            writer.record(AttemptRecord(row, sub, result, 1, clock()))
        await writer.flush(5)
        assert len(sessions) == 1  # six outcomes, one transaction
        assert finished == {r.id for r in rows}  # no longer this process's to renew
        async with db.session() as session:
            states = {
                d.id: (d.state, d.attempts, d.next_attempt_at)
                for d in (await session.execute(select(Delivery))).scalars()
            }
            attempts = (await session.execute(select(DeliveryAttempt))).scalars().all()
            subs = {s.id: s for s in (await session.execute(select(Subscription))).scalars()}
    # from the attempt's end (1 s after it began), 5 s plus up to 10 % jitter
    state, attempts_made, retry_at = states["msg_0"]
    assert (state, attempts_made) == ("pending", 1)
    assert T0 + timedelta(seconds=6) <= retry_at <= T0 + timedelta(seconds=6.5)
    assert retries == [retry_at]
    assert states["msg_2"][:2] == states["msg_4"][:2] == ("succeeded", 1)
    assert {states[f"msg_{i}"][0] for i in (1, 3, 5)} == {"dead"}
    assert len(attempts) == 6
    assert subs["s-ok"].failing_since == T0 and subs["s-ok"].active
    assert not subs["s-gone"].active
    assert subs["s-gone"].disabled_reason == "the endpoint answered 410 Gone"


async def test_completions_wait_for_a_quiet_moment_then_write_in_one_batch(
    tmp_path: Path,
) -> None:
    clock = FakeClock(T0)
    quiet = asyncio.Event()
    announced: list[list[str]] = []

    async def wait_quiet() -> None:
        await quiet.wait()

    async def announce(events: list[Event]) -> None:
        announced.append([e.id for e in events])

    async with database(tmp_path) as db:
        await seed(
            db,
            [
                Subscription(
                    id="s",
                    url="https://a.example/",
                    types=[],
                    secret="x",
                    created_at=T0,
                    updated_at=T0,
                )
            ],
            0,
        )
        triggers = [
            Trigger(
                id=f"t{i}",
                event_id="ev1",
                type="reminder",
                due_at=T0,
                state=TriggerState.CLAIMED.value,
                claimed_by="me",
                claim_attempt=1,
            )
            for i in range(3)
        ]
        async with db.session() as session:
            session.add_all(triggers)
        tasks: set[asyncio.Task[Any]] = set()

        def spawn(coro: Any) -> asyncio.Task[Any]:
            task = asyncio.get_running_loop().create_task(coro)
            tasks.add(task)
            return task

        completions = Completions(
            db, clock, Metrics(), owner="me", quiet=wait_quiet, announce=announce, spawn=spawn
        )
        clock.advance(seconds=0.25)
        completions.came(T0, [Prepared(t, TriggerState.FIRED) for t in triggers])
        assert completions.fired_total == 3 and completions.last_fire_lag == 0.25
        await asyncio.sleep(0.05)
        async with db.session() as session:
            states = {t.state for t in (await session.execute(select(Trigger))).scalars()}
        assert states == {TriggerState.CLAIMED.value}  # not while the burst goes out
        quiet.set()
        await asyncio.wait(tasks, timeout=5)
        async with db.session() as session:
            rows = (await session.execute(select(Trigger))).scalars().all()
    assert {(t.state, t.late_by_seconds, t.claimed_by) for t in rows} == {
        (TriggerState.FIRED.value, 0.25, None)
    }
    assert announced == []  # reminders change no event's state


async def test_housekeeping_purges_idempotency_keys_past_their_retention(
    tmp_path: Path,
) -> None:
    from scheduler.models import IdempotencyRecord
    from scheduler.reminders.upkeep import Upkeep

    clock = FakeClock(T0)
    settings = make_settings(
        tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'engine.db'}", idempotency_ttl_hours=24
    )
    async with database(tmp_path) as db:
        async with db.session() as session:
            for key, age in (("old", 25), ("fresh", 23)):
                session.add(
                    IdempotencyRecord(
                        key=key,
                        scope="create-event",
                        fingerprint="f",
                        resource_id="ev1",
                        created_at=T0 - timedelta(hours=age),
                    )
                )
        upkeep = Upkeep(
            db,
            settings,
            clock,
            owner="me",
            senders=None,
            prepared=None,
            wake=lambda: None,  # type: ignore[arg-type]
        )
        await upkeep.housekeeping()
        async with db.session() as session:
            keys = set((await session.execute(select(IdempotencyRecord.key))).scalars())
    assert keys == {"fresh"}
