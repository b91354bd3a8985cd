"""Trigger rows: planned with their event, claimed when due, completed once.

``replan`` keeps an event's reminder/start/end triggers in line with its
current times in the same transaction as the event change.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from scheduler.models import EventType, Trigger, TriggerState
from scheduler.models.triggers import SCHEDULED_TYPES, PlannedTrigger
from scheduler.store import claims
from scheduler.store import deliveries as delivery_store
from scheduler.store.claims import Queue
from scheduler.store.rows import built

#: Once past these, a trigger whose time changes to the future is armed again.
REARMABLE = {
    TriggerState.FIRED,
    TriggerState.SKIPPED,
    TriggerState.EXPIRED,
    TriggerState.MISSED,
    TriggerState.SUPERSEDED,
}

#: how the dispatcher claims triggers
QUEUE: Queue[Trigger] = Queue(
    Trigger, "due_at", TriggerState.PENDING.value, TriggerState.CLAIMED.value
)


async def replan(session: AsyncSession, event_id: str, plan: Iterable[PlannedTrigger]) -> None:
    """Make the event's scheduled triggers match ``plan``."""
    await replan_many(session, {event_id: plan})


async def replan_many(session: AsyncSession, plans: Mapping[str, Iterable[PlannedTrigger]]) -> None:
    """:func:`replan` for many events at once (a series' occurrences): one read
    of their triggers, one delete."""
    if not plans:
        return
    existing: dict[str, dict[str, Trigger]] = {event_id: {} for event_id in plans}
    rows = await session.execute(
        select(Trigger).where(
            col(Trigger.event_id).in_(list(plans)),
            col(Trigger.type).in_([t.value for t in SCHEDULED_TYPES]),
        )
    )
    for trigger in rows.scalars():
        existing[trigger.event_id][trigger.id] = trigger
    gone: list[str] = []
    for event_id, plan in plans.items():
        gone.extend(_apply_plan(session, event_id, existing[event_id], plan))
    if gone:
        await session.execute(delete(Trigger).where(col(Trigger.id).in_(gone)))
    await session.flush()


def _apply_plan(
    session: AsyncSession,
    event_id: str,
    existing: dict[str, Trigger],
    plan: Iterable[PlannedTrigger],
) -> list[str]:
    """Bring one event's triggers in line; the ids of those to delete."""
    planned_ids = set()
    for item in plan:
        planned_ids.add(item.id)
        row = existing.get(item.id)
        if row is None:
            session.add(
                Trigger(
                    id=item.id,
                    event_id=event_id,
                    type=item.type.value,
                    minutes_before=item.minutes_before,
                    due_at=item.due_at,
                    state=item.state.value,
                )
            )
        elif row.state == TriggerState.PENDING:
            row.due_at, row.state = item.due_at, item.state.value
        elif row.state in REARMABLE and row.due_at != item.due_at and _may_rearm(row):
            row.due_at = item.due_at
            if item.state is TriggerState.PENDING:
                row.state = TriggerState.PENDING.value
                row.generation += 1
                row.fired_at = row.late_by_seconds = None
        # a CLAIMED trigger is being fired right now: it finishes as it was
    return [
        tid for tid, row in existing.items() if tid not in planned_ids and row.state != "claimed"
    ]


def new_rows(event_id: str, plan: Iterable[PlannedTrigger]) -> list[Trigger]:
    """The trigger rows of a new event's plan (what :func:`replan` inserts for an
    event that has none yet), in the order :func:`for_events` reads them back."""
    rows = [
        built(
            Trigger,
            {
                "id": item.id,
                "event_id": event_id,
                "type": item.type.value,
                "minutes_before": item.minutes_before,
                "due_at": item.due_at,
                "state": item.state.value,
                "generation": 0,
                "claimed_by": None,
                "claim_expires_at": None,
                "claim_attempt": 0,
                "fired_at": None,
                "late_by_seconds": None,
                "detail": None,
            },
        )
        for item in plan
    ]
    rows.sort(key=lambda row: (row.due_at, row.id))
    return rows


async def release_prepared(
    session: AsyncSession,
    *,
    now: datetime,
    event_id: str | None = None,
    trigger_ids: Sequence[str] | None = None,
    owner: str | None = None,
    rearm: bool = True,
    event_ids: Sequence[str] | None = None,
) -> list[str]:
    """Take back triggers a dispatcher claimed ahead of their time (not due yet at
    ``now``), with the messages it prepared for them: of one event that is
    changing, or the given ones (a dispatcher stopping).

    The triggers wait again and are prepared anew from the changed event. With
    ``rearm`` their generation grows, so the new messages get new ids: should
    a dispatcher send an old one in the instant before it hears of the change,
    a receiver does not drop the corrected one as a repeat. With ``owner``,
    only that process's claims are returned.
    """
    where = [col(Trigger.state) == TriggerState.CLAIMED.value, col(Trigger.due_at) > now]
    if event_id is not None:
        where.append(col(Trigger.event_id) == event_id)
    if event_ids is not None:
        where.append(col(Trigger.event_id).in_(list(event_ids)))
    if trigger_ids is not None:
        where.append(col(Trigger.id).in_(list(trigger_ids)))
    if owner is not None:
        where.append(col(Trigger.claimed_by) == owner)
    values: dict[str, Any] = {
        "state": TriggerState.PENDING.value,
        "claimed_by": None,
        "claim_expires_at": None,
    }
    if rearm:
        values["generation"] = col(Trigger.generation) + 1
    result = await session.execute(
        update(Trigger)
        .where(*where)
        .values(**values)
        .returning(col(Trigger.id))
        .execution_options(synchronize_session=False)
    )
    released = list(result.scalars().all())
    await delivery_store.delete_unsent(session, released, now=now)
    return released


def _may_rearm(row: Trigger) -> bool:
    # A reminder may go out again for a moved event; a start or end notice that
    # went out (or was taken over by an operator's mark) goes out once per event.
    if row.type == EventType.REMINDER.value:
        return True
    return row.state not in (TriggerState.FIRED, TriggerState.SUPERSEDED)


async def add_immediate(
    session: AsyncSession,
    *,
    trigger_id: str,
    event_id: str,
    type_: EventType,
    now: datetime,
    detail: dict[str, Any] | None = None,
) -> None:
    """A trigger due at once (``event.updated``, ``event.cancelled``, operator start/end);
    ``detail`` says more about it (an update that moved the event)."""
    existing = await session.get(Trigger, trigger_id)
    if existing is not None:
        return
    session.add(
        Trigger(
            id=trigger_id,
            event_id=event_id,
            type=type_.value,
            due_at=now,
            state="pending",
            detail=detail,
        )
    )
    await session.flush()


def add_immediates(
    session: AsyncSession, rows: Sequence[tuple[str, str, EventType]], *, now: datetime
) -> None:
    """Triggers due at once, ``(trigger id, event id, type)`` each, whose ids are
    new (they carry a sequence number never used before)."""
    session.add_all(
        [
            Trigger(id=tid, event_id=event_id, type=type_.value, due_at=now, state="pending")
            for tid, event_id, type_ in rows
        ]
    )


async def settle_pending(
    session: AsyncSession,
    event_id: str | Sequence[str],
    state: TriggerState,
    types: Sequence[EventType],
) -> None:
    """Mark the event's (or events') pending triggers of ``types`` as ``state``
    (cancelled, superseded)."""
    ids = [event_id] if isinstance(event_id, str) else list(event_id)
    await session.execute(
        update(Trigger)
        .where(
            col(Trigger.event_id).in_(ids),
            col(Trigger.state) == TriggerState.PENDING.value,
            col(Trigger.type).in_([t.value for t in types]),
        )
        .values(state=state.value)
    )


async def fire_now(session: AsyncSession, trigger_id: str, *, now: datetime) -> bool:
    """Make a scheduled trigger fall due at ``now`` (an operator's start or end).

    A trigger already fired, or being fired, is left alone: the notice goes
    out once per event, whichever comes first, the schedule or the operator.
    """
    open_states = [TriggerState.PENDING, TriggerState.SKIPPED, TriggerState.SUPERSEDED]
    result = await session.execute(
        update(Trigger)
        .where(
            col(Trigger.id) == trigger_id, col(Trigger.state).in_([s.value for s in open_states])
        )
        .values(state=TriggerState.PENDING.value, due_at=now)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def for_events(session: AsyncSession, event_ids: Sequence[str]) -> list[Trigger]:
    if not event_ids:
        return []
    result = await session.execute(
        select(Trigger)
        .where(col(Trigger.event_id).in_(event_ids))
        .order_by(col(Trigger.due_at), col(Trigger.id))
    )
    return list(result.scalars().all())


async def backlog(session: AsyncSession, *, now: datetime) -> tuple[int, datetime | None]:
    """Pending triggers, and the due time of the oldest one already overdue."""
    pending = await session.execute(
        select(func.count()).select_from(Trigger).where(col(Trigger.state) == "pending")
    )
    oldest = await session.execute(
        select(func.min(col(Trigger.due_at))).where(
            col(Trigger.state).in_(["pending", "claimed"]), col(Trigger.due_at) < now
        )
    )
    value = oldest.scalar_one()
    if value is not None and value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return int(pending.scalar_one()), value


async def finish_claims(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Finish claimed triggers in one statement; rows carry ``row_id``, ``owner``,
    ``claim`` (the claim to match), ``new_state``, ``fired_at`` and ``late``."""
    await claims.complete_many(
        session,
        QUEUE,
        rows,
        state=bindparam("new_state"),
        fired_at=bindparam("fired_at"),
        late_by_seconds=bindparam("late"),
    )


async def reopen_cancelled(session: AsyncSession, event_ids: Sequence[str]) -> None:
    """Forget the events' scheduled triggers that a cancellation settled, so that
    :func:`replan` plans them afresh (occurrences restored after a pause)."""
    await session.execute(
        delete(Trigger).where(
            col(Trigger.event_id).in_(list(event_ids)),
            col(Trigger.state) == TriggerState.CANCELLED.value,
            col(Trigger.type).in_([t.value for t in SCHEDULED_TYPES]),
        )
    )


async def announced(session: AsyncSession, event_ids: Sequence[str]) -> set[str]:
    """The events of ``event_ids`` about which a message went out (or is going out
    now): a trigger of theirs fired or is claimed."""
    if not event_ids:
        return set()
    rows = await session.execute(
        select(col(Trigger.event_id))
        .where(
            col(Trigger.event_id).in_(list(event_ids)),
            col(Trigger.state).in_([TriggerState.FIRED.value, TriggerState.CLAIMED.value]),
        )
        .distinct()
    )
    return set(rows.scalars().all())
