"""Claiming rows with a lease: one atomic statement, on either backend.

A row is claimable when it is waiting and due, or when another owner's lease
on it has expired. The claim sets owner, lease expiry and bumps
``claim_attempt`` in one ``UPDATE ... RETURNING``; on PostgreSQL the rows are
picked with ``FOR UPDATE SKIP LOCKED`` so concurrent claimers never block on
or share a row. Completing a claim repeats owner and attempt in its ``WHERE``,
so a finisher whose lease was taken over changes nothing.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, and_, bindparam, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel, col

Row = TypeVar("Row", bound=SQLModel)


def claimable(
    model: type[Any],
    *,
    waiting: str,
    claimed: str,
    due_column: Any,
    now: datetime | Any,
    due_by: datetime | Any | None = None,
) -> ColumnElement[bool]:
    """Waiting and due by ``due_by`` (default ``now``), or claimed under a lease
    that has expired at ``now``."""
    return or_(
        and_(col(model.state) == waiting, due_column <= (now if due_by is None else due_by)),
        and_(col(model.state) == claimed, col(model.claim_expires_at) < now),
    )


async def claim_rows(
    session: AsyncSession,
    model: type[Row],
    *,
    where: ColumnElement[bool],
    order_by: Any,
    claimed_state: str,
    owner: str,
    lease_until: datetime | Any,
    limit: int,
) -> Sequence[Row]:
    """Claim up to ``limit`` rows matching ``where`` for ``owner`` until ``lease_until``."""
    table: Any = model
    picked = select(col(table.id)).where(where).order_by(order_by).limit(limit)
    if session.bind.dialect.name == "postgresql":  # type: ignore[union-attr]
        picked = picked.with_for_update(skip_locked=True)
    statement = (
        update(model)
        .where(col(table.id).in_(picked.scalar_subquery()))
        .values(
            state=claimed_state,
            claimed_by=owner,
            claim_expires_at=lease_until,
            claim_attempt=col(table.claim_attempt) + 1,
        )
        .returning(model)
        .execution_options(synchronize_session=False)
    )
    result = await session.execute(select(model).from_statement(statement))
    return result.scalars().all()


def owned(
    model: type[Any], row_id: str, *, owner: str, attempt: int, claimed: str
) -> ColumnElement[bool]:
    """``WHERE`` of a completion: still this owner's claim, same attempt."""
    return and_(
        col(model.id) == row_id,
        col(model.claimed_by) == owner,
        col(model.claim_attempt) == attempt,
        col(model.state) == claimed,
    )


@dataclass(frozen=True)
class Queue(Generic[Row]):
    """A table worked through by claims: triggers (due_at) and deliveries (next_attempt_at)."""

    model: type[Row]
    due: str  # the column saying when a row falls due
    waiting: str  # state of rows waiting for their time
    claimed: str  # state of rows under a claim

    def due_column(self) -> Any:
        return col(getattr(self.model, self.due))


async def claim_due(
    session: AsyncSession,
    queue: Queue[Row],
    *,
    owner: str,
    now: datetime | Any,
    lease: timedelta,
    limit: int,
    row_id: str | None = None,
    ahead: timedelta | None = None,
) -> Sequence[Row]:
    """Claim up to ``limit`` rows that are due, or whose lease has expired.

    With ``ahead``, rows falling due up to that long after ``now`` are claimed
    too (the dispatcher prepares messages before their instant).

    With ``row_id`` (a ping or a redelivery, sent at once) only that row is
    claimed, and whatever its due time: comparing it with the database's
    ``now()`` could miss a row just written with this process's clock.
    """
    due = queue.due_column()
    model: Any = queue.model
    if row_id is None:
        where = claimable(
            model,
            waiting=queue.waiting,
            claimed=queue.claimed,
            due_column=due,
            now=now,
            due_by=now + ahead if ahead else None,
        )
    else:
        where = and_(
            col(model.id) == row_id,
            or_(
                col(model.state) == queue.waiting,
                and_(col(model.state) == queue.claimed, col(model.claim_expires_at) < now),
            ),
        )
    return await claim_rows(
        session,
        queue.model,
        where=where,
        order_by=due,
        claimed_state=queue.claimed,
        owner=owner,
        lease_until=now + lease,
        limit=limit,
    )


async def due_instants(
    session: AsyncSession, queue: Queue[Row], *, until: datetime, now: datetime
) -> list[datetime]:
    """Distinct instants at which waiting rows fall due before ``until``, and ``now``
    if any claim has expired (so it is taken over at once)."""
    model: Any = queue.model
    due = queue.due_column()
    result = await session.execute(
        select(due)
        .where(col(model.state) == queue.waiting, due <= until)
        .distinct()
        .order_by(due)
        .limit(10000)
    )
    instants = list(result.scalars().all())
    expired = await session.execute(
        select(func.count())
        .select_from(model)
        .where(col(model.state) == queue.claimed, col(model.claim_expires_at) < now)
    )
    if expired.scalar_one():
        instants.insert(0, now)
    return instants


async def next_due(session: AsyncSession, queue: Queue[Row]) -> datetime | None:
    """When the earliest waiting row falls due, if any."""
    model: Any = queue.model
    due = queue.due_column()
    result = await session.execute(select(func.min(due)).where(col(model.state) == queue.waiting))
    value: datetime | None = result.scalar_one()
    if value is not None and value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value


async def count_due(session: AsyncSession, queue: Queue[Row], *, until: datetime) -> int:
    """How many waiting rows fall due by ``until``."""
    model: Any = queue.model
    result = await session.execute(
        select(func.count())
        .select_from(model)
        .where(col(model.state) == queue.waiting, queue.due_column() <= until)
    )
    return int(result.scalar_one())


async def still_held(
    session: AsyncSession, queue: Queue[Row], *, owner: str, attempts: Mapping[str, int]
) -> set[str]:
    """Which of these rows ``owner`` still holds under the given claim attempts."""
    if not attempts:
        return set()
    model: Any = queue.model
    result = await session.execute(
        select(col(model.id), col(model.claim_attempt)).where(
            col(model.id).in_(list(attempts)),
            col(model.claimed_by) == owner,
            col(model.state) == queue.claimed,
        )
    )
    return {row_id for row_id, attempt in result.all() if attempts[row_id] == attempt}


async def renew(
    session: AsyncSession,
    queue: Queue[Row],
    *,
    owner: str,
    until: datetime | Any,
    ids: Collection[str] | None = None,
) -> int:
    """Extend the leases ``owner`` holds (it is still working on them): all of
    them, or with ``ids`` only those rows (a claim the owner lost track of is
    then left to expire and be taken over, instead of being kept for ever).

    Rows locked right now (being completed) are skipped rather than waited for:
    waiting could deadlock with the completing transaction, and a row being
    completed needs no longer lease.
    """
    model: Any = queue.model
    if ids is None:
        return await _renew(session, model, queue, owner=owner, until=until, ids=None)
    wanted = sorted(ids)
    renewed = 0
    for start in range(0, len(wanted), RENEW_BATCH):
        chunk = wanted[start : start + RENEW_BATCH]
        renewed += await _renew(session, model, queue, owner=owner, until=until, ids=chunk)
    return renewed


RENEW_BATCH = 500  # ids per renewal statement (PostgreSQL takes at most 32,767 parameters)


async def _renew(
    session: AsyncSession,
    model: Any,
    queue: Queue[Row],
    *,
    owner: str,
    until: datetime | Any,
    ids: Sequence[str] | None,
) -> int:
    mine = select(col(model.id)).where(
        col(model.claimed_by) == owner, col(model.state) == queue.claimed
    )
    if ids is not None:
        mine = mine.where(col(model.id).in_(list(ids)))
    if session.bind.dialect.name == "postgresql":  # type: ignore[union-attr]
        mine = mine.with_for_update(skip_locked=True)
    result = await session.execute(
        update(model)
        .where(col(model.id).in_(mine.scalar_subquery()))
        .values(claim_expires_at=until)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def release_all(
    session: AsyncSession, queue: Queue[Row], *, owners: Collection[str] | None = None
) -> int:
    """Return every claimed row (of ``owners``, if given) to waiting: the single
    dispatcher's start-up on SQLite, or the claims of replicas known dead."""
    model: Any = queue.model
    where = col(model.state) == queue.claimed
    if owners is not None:
        where = and_(where, col(model.claimed_by).in_(list(owners)))
    result = await session.execute(
        update(model)
        .where(where)
        .values(state=queue.waiting, claimed_by=None, claim_expires_at=None)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def count_by_state(session: AsyncSession, queue: Queue[Row]) -> dict[str, int]:
    model: Any = queue.model
    result = await session.execute(
        select(col(model.state), func.count()).group_by(col(model.state))
    )
    return {state: count for state, count in result.all()}


async def complete_many(
    session: AsyncSession, queue: Queue[Row], rows: Sequence[dict[str, Any]], **values: Any
) -> None:
    """Finish many claims with one executemany.

    Each row's ``WHERE`` still requires its own owner and claim attempt (keys
    ``row_id``, ``owner``, ``claim``), so a finisher whose claim was taken over
    changes nothing; ``values`` may refer to other keys with ``bindparam``.
    """
    if not rows:
        return
    table: Any = queue.model.__table__  # type: ignore[attr-defined]
    statement = (
        update(table)
        .where(
            table.c.id == bindparam("row_id"),
            table.c.claimed_by == bindparam("owner"),
            table.c.claim_attempt == bindparam("claim"),
            table.c.state == queue.claimed,
        )
        .values(claimed_by=None, claim_expires_at=None, **values)
    )
    connection = await session.connection()
    await connection.execute(statement, list(rows))
