"""What a series does to its occurrences' rows, inside the series' transaction.

An occurrence is an event: it is built the way ``EventService.create`` builds
one (every column, ``rows.built``; triggers from ``reminders.planning``), and
changed the way ``EventService.update`` and ``cancel`` change one (prepared
messages taken back, ``sequence`` raised, triggers re-planned, an
``event.updated`` or ``event.cancelled`` trigger due at once). The changes are
gathered in an :class:`Outcome` and told to listeners after the commit.

``event.cancelled`` triggers of occurrences carry the sequence in their id, so
an occurrence cancelled, restored (a pause deleted) and cancelled again sends
``event.cancelled`` each time, while a repeated cancel that changes nothing
sends nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from scheduler.models import Event, EventType, Series, Trigger, TriggerState, new_id
from scheduler.models.changes import Change, ChangeKind
from scheduler.reminders.planning import (
    SCHEDULED_TYPES,
    PlannedTrigger,
    plan_schedule,
    trigger_id,
)
from scheduler.series.rules import Occurrence
from scheduler.status import CANCELLED, SCHEDULED
from scheduler.store import triggers as trigger_store
from scheduler.store.database import Session
from scheduler.store.rows import built

#: fields an occurrence takes from its series (times come from the rule)
SHARED = ("title", "description", "stream_url", "location", "channel", "timezone", "tags")
TIMES = ("start_local", "end_local", "start_utc", "end_utc")


@dataclass
class Outcome:
    """The changes a series transaction made to event rows, in order."""

    changes: list[Change] = field(default_factory=list)

    def add(
        self, kind: ChangeKind, event: Event | None, event_id: str, channel: str | None
    ) -> None:
        self.changes.append(Change(kind, event_id, event, channel))

    @property
    def notices(self) -> list[tuple[ChangeKind, str]]:
        return [(c.kind, c.ref_id) for c in self.changes]


def target_values(series: Series, occurrence: Occurrence) -> dict[str, Any]:
    """What a non-exception occurrence holds: the series' fields, the rule's times."""
    values: dict[str, Any] = {name: getattr(series, name) for name in SHARED}
    values.update(
        reminders=list(series.reminders),
        start_local=occurrence.start_local,
        end_local=occurrence.end_local,
        start_utc=occurrence.start_utc,
        end_utc=occurrence.end_utc,
        recurrence_id=occurrence.recurrence_id,
    )
    return values


def new_row(
    series: Series,
    occurrence: Occurrence,
    *,
    now: datetime,
    paused: tuple[str, str] | None = None,
) -> tuple[Event, list[Trigger]]:
    """A new occurrence and its planned triggers. Inside a pause (``(pause id,
    reason)``) it is born cancelled, with no trigger: nobody heard of it."""
    event = built(
        Event,
        {
            "id": new_id(),
            **target_values(series, occurrence),
            "status": CANCELLED if paused else SCHEDULED,
            "actual_start": None,
            "actual_end": None,
            "cancelled_at": now if paused else None,
            "previous_start_utc": None,
            "sequence": 0,
            "created_at": now,
            "updated_at": now,
            "series_id": series.id,
            "exception": False,
            "cancel_reason": paused[1] if paused else None,
            "pause_id": paused[0] if paused else None,
            "import_source": None,
            "import_key": None,
        },
    )
    if paused:
        return event, []
    plan = plan_schedule(
        event_id=event.id,
        start_utc=event.start_utc,
        end_utc=event.end_utc,
        reminders=list(event.reminders),
        now=now,
    )
    return event, trigger_store.new_rows(event.id, plan)


async def follow(
    session: Session, event: Event, values: dict[str, Any], *, now: datetime, outcome: Outcome
) -> None:
    """Make ``event`` hold ``values`` (from :func:`target_values`)."""
    await follow_all(session, [(event, values)], now=now, outcome=outcome)


async def follow_all(
    session: Session,
    items: Sequence[tuple[Event, dict[str, Any]]],
    *,
    now: datetime,
    outcome: Outcome,
) -> None:
    """Make each event hold its values. A change a calendar or integrator must
    see raises its sequence and sends ``event.updated`` (not for an occurrence
    a pause cancelled). Done for all at once: a series' title change touches
    hundreds of rows, and a few statements per row took seconds."""
    changed: list[tuple[Event, set[str]]] = []
    for event, values in items:
        visible = {k for k, v in values.items() if getattr(event, k) != v and k != "recurrence_id"}
        if "start_utc" in visible:  # moved: what schema.org calls rescheduled
            event.previous_start_utc = event.start_utc
        for name, value in values.items():
            setattr(event, name, value)
        if visible:  # else only its recurrence id moved (a new rule on the same dates)
            changed.append((event, visible))
    if not changed:
        return
    ids = [event.id for event, _ in changed]
    await trigger_store.release_prepared(session, now=now, event_ids=ids)
    plans = {}
    updated = []
    for event, visible in changed:
        event.sequence += 1
        event.updated_at = now
        session.add(event)
        if event.status != CANCELLED:
            if visible & {*TIMES, "reminders"}:
                plans[event.id] = _plan(event, now)
            updated.append(
                (
                    trigger_id(event.id, EventType.UPDATED, sequence=event.sequence),
                    event.id,
                    EventType.UPDATED,
                )
            )
        outcome.add(ChangeKind.UPDATED, event, event.id, event.channel)
    await trigger_store.replan_many(session, plans)
    trigger_store.add_immediates(session, updated, now=now)
    await session.flush()


async def cancel(
    session: Session,
    event: Event,
    *,
    now: datetime,
    outcome: Outcome,
    reason: str | None = None,
    pause_id: str | None = None,
) -> None:
    """Cancel one occurrence (a series cancelled, a pause, a rule that dropped it)."""
    await cancel_all(session, [event], now=now, outcome=outcome, reason=reason, pause_id=pause_id)


async def cancel_all(
    session: Session,
    events: Sequence[Event],
    *,
    now: datetime,
    outcome: Outcome,
    reason: str | None = None,
    pause_id: str | None = None,
) -> None:
    """Cancel these occurrences, all at once; those cancelled already stay as they are."""
    todo = [event for event in events if event.status != CANCELLED]
    if not todo:
        return
    ids = [event.id for event in todo]
    await trigger_store.release_prepared(session, now=now, event_ids=ids)
    for event in todo:
        event.status = CANCELLED
        event.cancelled_at = now
        event.cancel_reason = reason
        event.pause_id = pause_id
        event.sequence += 1
        event.updated_at = now
        session.add(event)
    await trigger_store.settle_pending(session, ids, TriggerState.CANCELLED, SCHEDULED_TYPES)
    trigger_store.add_immediates(
        session,
        [(cancelled_trigger_id(event), event.id, EventType.CANCELLED) for event in todo],
        now=now,
    )
    await session.flush()
    for event in todo:
        outcome.add(ChangeKind.CANCELLED, event, event.id, event.channel)


def cancelled_trigger_id(event: Event) -> str:
    """``event.cancelled`` once per cancellation of an occurrence (see module doc)."""
    return f"{trigger_id(event.id, EventType.CANCELLED)}:{event.sequence}"


async def restore(session: Session, event: Event, *, now: datetime, outcome: Outcome) -> None:
    """Undo a cancellation by a pause or a rule change (see :func:`restore_all`)."""
    await restore_all(session, [event], now=now, outcome=outcome)


async def restore_all(
    session: Session, events: Sequence[Event], *, now: datetime, outcome: Outcome
) -> None:
    """Undo a pause's (or a rule change's) cancellation: scheduled again,
    triggers planned afresh, ``event.updated`` sent; all at once."""
    if not events:
        return
    for event in events:
        event.status = SCHEDULED
        event.cancelled_at = None
        event.cancel_reason = None
        event.pause_id = None
        event.sequence += 1
        event.updated_at = now
        session.add(event)
    await session.flush()
    await trigger_store.reopen_cancelled(session, [e.id for e in events])
    await trigger_store.replan_many(session, {e.id: _plan(e, now) for e in events})
    trigger_store.add_immediates(
        session,
        [
            (trigger_id(e.id, EventType.UPDATED, sequence=e.sequence), e.id, EventType.UPDATED)
            for e in events
        ],
        now=now,
    )
    await session.flush()
    for event in events:
        outcome.add(ChangeKind.UPDATED, event, event.id, event.channel)


def _plan(event: Event, now: datetime) -> list[PlannedTrigger]:
    return plan_schedule(
        event_id=event.id,
        start_utc=event.start_utc,
        end_utc=event.end_utc,
        reminders=list(event.reminders),
        now=now,
    )
