"""Claims of one row by id (ping, redeliver) do not depend on the row's due time.

Regression: a ping's delivery was written with this process's clock and then
claimed against PostgreSQL's ``now()``; when the two differed by a fraction of
a millisecond the claim found nothing and the ping was not sent.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from scheduler.models import Delivery, Subscription
from scheduler.store import claims
from scheduler.store import deliveries as delivery_store
from scheduler.store.database import Database


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
