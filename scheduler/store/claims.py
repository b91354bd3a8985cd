"""Claiming rows with a lease: one atomic statement, on either backend.

A row is claimable when it is waiting and due, or when another owner's lease
on it has expired. The claim sets owner, lease expiry and bumps
``claim_attempt`` in one ``UPDATE ... RETURNING``; on PostgreSQL the rows are
picked with ``FOR UPDATE SKIP LOCKED`` so concurrent claimers never block on
or share a row. Completing a claim repeats owner and attempt in its ``WHERE``,
so a finisher whose lease was taken over changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel, col

Row = TypeVar("Row", bound=SQLModel)


def claimable(
    model: type[Any], *, waiting: str, claimed: str, due_column: Any, now: datetime | Any
) -> ColumnElement[bool]:
    """Waiting and due at ``now``, or claimed under a lease that has expired."""
    return or_(
        and_(col(model.state) == waiting, due_column <= now),
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
