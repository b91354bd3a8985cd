"""Delivery rows and their attempt log.

A delivery is created once per (trigger firing, subscription): its id is the
``webhook-id`` and is deterministic, so fanning out twice inserts nothing new.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from scheduler.models import Delivery, DeliveryAttempt, DeliveryState
from scheduler.store import claims
from scheduler.store.claims import Queue, owned

#: how the dispatcher claims deliveries
QUEUE: Queue[Delivery] = Queue(
    Delivery, "next_attempt_at", DeliveryState.PENDING.value, DeliveryState.DELIVERING.value
)


async def insert_new(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> set[str]:
    """Insert deliveries, skipping any whose id already exists; returns the ids inserted."""
    if not rows:
        return set()
    dialect = session.bind.dialect.name  # type: ignore[union-attr]
    insert_ = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table: Any = Delivery.__table__  # type: ignore[attr-defined]
    # one cached statement run as an executemany: SQLAlchemy batches the rows
    # into multi-row INSERTs itself ("insertmanyvalues"), where compiling a
    # fresh 200-row VALUES statement per batch cost more than sending it
    statement = insert_(table).on_conflict_do_nothing().returning(table.c.id)
    result = await session.execute(statement, list(rows))
    return set(result.scalars().all())


async def delete_unsent(session: AsyncSession, trigger_ids: Sequence[str], *, now: datetime) -> int:
    """Delete the prepared messages of these triggers that are not due yet
    (never attempted: nobody has seen them)."""
    if not trigger_ids:
        return 0
    result = await session.execute(
        delete(Delivery).where(
            col(Delivery.trigger_id).in_(list(trigger_ids)),
            col(Delivery.state) == DeliveryState.DELIVERING.value,
            col(Delivery.attempts) == 0,
            col(Delivery.next_attempt_at) > now,
        )
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def existing(session: AsyncSession, delivery_ids: Sequence[str]) -> set[str]:
    """Which of these deliveries still exist (an event or webhook may be deleted
    while its message is in flight)."""
    if not delivery_ids:
        return set()
    result = await session.execute(
        select(col(Delivery.id)).where(col(Delivery.id).in_(list(delivery_ids)))
    )
    return set(result.scalars().all())


async def get(session: AsyncSession, delivery_id: str) -> Delivery | None:
    return await session.get(Delivery, delivery_id)


async def complete(session: AsyncSession, delivery: Delivery, *, owner: str, **values: Any) -> bool:
    """Finish an attempt's claim with ``values``; ``False`` if the claim was lost."""
    result = await session.execute(
        update(Delivery)
        .where(
            owned(
                Delivery,
                delivery.id,
                owner=owner,
                attempt=delivery.claim_attempt,
                claimed=DeliveryState.DELIVERING.value,
            )
        )
        .values(claimed_by=None, claim_expires_at=None, **values)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def record_attempt(session: AsyncSession, attempt: DeliveryAttempt) -> None:
    session.add(attempt)


async def record_attempts(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Log many attempts with one multi-row statement."""
    if rows:
        table: Any = DeliveryAttempt.__table__  # type: ignore[attr-defined]
        await session.execute(insert(table), list(rows))


async def requeue(session: AsyncSession, delivery_id: str, *, now: datetime) -> bool:
    """Send a delivery again now (redeliver), unless an attempt is running."""
    result = await session.execute(
        update(Delivery)
        .where(
            col(Delivery.id) == delivery_id,
            col(Delivery.state) != DeliveryState.DELIVERING.value,
        )
        .values(state=DeliveryState.PENDING.value, next_attempt_at=now)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def kill_pending_for(session: AsyncSession, subscription_id: str, reason: str) -> None:
    await session.execute(
        update(Delivery)
        .where(
            col(Delivery.subscription_id) == subscription_id,
            col(Delivery.state) == DeliveryState.PENDING.value,
        )
        .values(state=DeliveryState.DEAD.value, last_error=reason)
    )


async def for_subscription(
    session: AsyncSession, subscription_id: str, *, limit: int, state: str | None = None
) -> Sequence[Delivery]:
    query = select(Delivery).where(col(Delivery.subscription_id) == subscription_id)
    if state:
        query = query.where(col(Delivery.state) == state)
    result = await session.execute(
        query.order_by(col(Delivery.created_at).desc(), col(Delivery.id)).limit(limit)
    )
    return result.scalars().all()


async def attempts_for(
    session: AsyncSession, delivery_ids: Sequence[str]
) -> dict[str, list[DeliveryAttempt]]:
    if not delivery_ids:
        return {}
    result = await session.execute(
        select(DeliveryAttempt)
        .where(col(DeliveryAttempt.delivery_id).in_(delivery_ids))
        .order_by(col(DeliveryAttempt.delivery_id), col(DeliveryAttempt.attempt))
    )
    grouped: dict[str, list[DeliveryAttempt]] = {}
    for attempt in result.scalars().all():
        grouped.setdefault(attempt.delivery_id, []).append(attempt)
    return grouped


async def retrying(session: AsyncSession) -> int:
    result = await session.execute(
        select(func.count())
        .select_from(Delivery)
        .where(col(Delivery.state) == DeliveryState.PENDING.value, col(Delivery.attempts) > 0)
    )
    return int(result.scalar_one())


async def finish_successes(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Mark claimed deliveries succeeded in one statement; rows carry ``row_id``,
    ``owner``, ``claim`` (the claim to match), ``attempts``, ``status``, ``finished``."""
    await claims.complete_many(
        session,
        QUEUE,
        rows,
        state=DeliveryState.SUCCEEDED.value,
        attempts=bindparam("attempts"),
        last_status=bindparam("status"),
        last_error=None,
        delivered_at=bindparam("finished"),
    )


async def stuck(session: AsyncSession, *, before: datetime | Any) -> tuple[int, datetime | None]:
    """Deliveries still claimed ("delivering") under a lease that ran out before
    ``before``, nobody having taken them over: how many, and the oldest expiry."""
    result = await session.execute(
        select(func.count(), func.min(col(Delivery.claim_expires_at))).where(
            col(Delivery.state) == DeliveryState.DELIVERING.value,
            col(Delivery.claim_expires_at) < before,
        )
    )
    count, oldest = result.one()
    if oldest is not None and oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=UTC)
    return int(count), oldest


async def set_payloads(session: AsyncSession, payloads: dict[str, str]) -> None:
    """Rewrite the bodies of these deliveries (a first attempt sent late carries
    its real lateness; its retries then send the same bytes)."""
    if not payloads:
        return
    table: Any = Delivery.__table__  # type: ignore[attr-defined]
    connection = await session.connection()
    await connection.execute(
        update(table).where(table.c.id == bindparam("row_id")).values(payload=bindparam("body")),
        [{"row_id": row_id, "body": body} for row_id, body in payloads.items()],
    )


async def add(session: AsyncSession, delivery: Delivery) -> None:
    session.add(delivery)
    await session.flush()
