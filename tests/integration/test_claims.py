"""Claims of one row by id (ping, redeliver) do not depend on the row's due time.

Regression: a ping's delivery was written with this process's clock and then
claimed against PostgreSQL's ``now()``; when the two differed by a fraction of
a millisecond the claim found nothing and the ping was not sent.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from scheduler.models import Delivery, Subscription
from scheduler.store import claims, replicas
from scheduler.store import deliveries as delivery_store
from scheduler.store.database import Database
from scheduler.store.replicas import DeadReplicas, ReplicaLock
from tests.conftest import empty_database


async def test_claim_by_id_ignores_due_time(database_url: str) -> None:
    db = Database(database_url)
    try:
        await db.upgrade()
        now = datetime.now(UTC)
        async with db.session() as session:
            session.add(
                Subscription(
                    id="s1",
                    url="http://x",
                    types=[],
                    secret="whsec_x",
                    created_at=now,
                    updated_at=now,
                )
            )
            await session.flush()
            session.add(
                Delivery(
                    id="msg_1",
                    subscription_id="s1",
                    type="webhook.ping",
                    payload="{}",
                    next_attempt_at=now + timedelta(seconds=5),  # "ahead" of the claimer
                    created_at=now,
                )
            )
        async with db.session() as session:
            due = await claims.claim_due(
                session,
                delivery_store.QUEUE,
                owner="o",
                now=db.sql_now(now),
                lease=timedelta(seconds=60),
                limit=10,
            )
            assert due == []  # the ordinary drain waits for its time
            by_id = await claims.claim_due(
                session,
                delivery_store.QUEUE,
                owner="o",
                now=db.sql_now(now),
                lease=timedelta(seconds=60),
                limit=1,
                row_id="msg_1",
            )
            assert [d.id for d in by_id] == ["msg_1"]
            again = await claims.claim_due(
                session,
                delivery_store.QUEUE,
                owner="p",
                now=db.sql_now(now),
                lease=timedelta(seconds=60),
                limit=1,
                row_id="msg_1",
            )
            assert again == []  # claimed under a live lease: not taken twice
    finally:
        await db.dispose()


@pytest.mark.postgres
async def test_only_listed_replicas_are_judged_dead_by_their_lock(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A replica that holds no liveness lock because it never took one (an older
    version during a rolling upgrade) keeps its claims until their lease expires;
    a listed replica whose lock is free is dead and loses them at once; a live
    one (holding its lock) keeps them."""
    await empty_database(postgres_url)
    db = Database(postgres_url)
    alive = ReplicaLock(db, "alive")
    try:
        now = datetime.now(UTC)
        async with db.session() as session:
            session.add(
                Subscription(
                    id="s1",
                    url="http://x",
                    types=[],
                    secret="whsec_x",
                    created_at=now,
                    updated_at=now,
                )
            )
            await session.flush()
            for owner in ("old-version", "listed-dead", "alive"):
                session.add(
                    Delivery(
                        id=f"msg_{owner}",
                        subscription_id="s1",
                        type="event.started",
                        payload="{}",
                        state="delivering",
                        claimed_by=owner,
                        claim_attempt=1,
                        claim_expires_at=now + timedelta(seconds=60),
                        next_attempt_at=now,
                        created_at=now,
                    )
                )
            await session.execute(
                text("INSERT INTO replicas (owner, started_at) VALUES ('listed-dead', now())")
            )
        await alive.take()  # lists itself and holds its lock
        monkeypatch.setattr(replicas, "CONFIRM_SECONDS", 0.2)
        survivor = DeadReplicas(db, "survivor")
        # a lock seen free once may be a live replica re-taking it: not yet
        assert await survivor.release() == (set(), 0, 0)
        await asyncio.sleep(0.25)
        dead, triggers, deliveries = await survivor.release()
        assert (dead, triggers, deliveries) == ({"listed-dead"}, 0, 1)
        async with db.session() as session:
            rows = await session.execute(text("SELECT id, state, claimed_by FROM deliveries"))
            states = {row.id: (row.state, row.claimed_by) for row in rows}
            listed = set((await session.execute(text("SELECT owner FROM replicas"))).scalars())
        assert states == {
            "msg_old-version": ("delivering", "old-version"),  # its lease decides
            "msg_listed-dead": ("pending", None),  # taken over at once
            "msg_alive": ("delivering", "alive"),
        }
        assert listed == {"alive"}  # the dead one is forgotten
        assert await survivor.release() == (set(), 0, 0)
    finally:
        await alive.release()
        await db.dispose()
