"""Which triggers an event needs, and what to do with one that falls due. Pure.

An event announces itself through triggers: one per reminder at
``start_utc - N minutes`` (computed in UTC, never on a zoned wall clock, which
would be an hour off across a DST change), one at its start and one at its end;
changes and cancellation add triggers due at once. Trigger ids are
deterministic, so planning twice, or firing twice, is harmless.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from scheduler.models import EventType, TriggerState
from scheduler.models.triggers import SCHEDULED_TYPES, PlannedTrigger

__all__ = ["SCHEDULED_TYPES", "PlannedTrigger", "Verdict", "judge", "plan_schedule", "trigger_id"]


def trigger_id(
    event_id: str, type_: EventType, *, minutes_before: int | None = None, sequence: int = 0
) -> str:
    kind = type_.value.removeprefix("event.")
    if type_ is EventType.REMINDER:
        return f"{event_id}:{kind}:{minutes_before}"
    if type_ is EventType.UPDATED:
        return f"{event_id}:{kind}:{sequence}"
    return f"{event_id}:{kind}"


def plan_schedule(
    *,
    event_id: str,
    start_utc: datetime,
    end_utc: datetime,
    reminders: list[int],
    now: datetime,
) -> list[PlannedTrigger]:
    """The reminder, start and end triggers of an event; those already past are skipped."""

    def planned(type_: EventType, due: datetime, minutes: int | None = None) -> PlannedTrigger:
        state = TriggerState.PENDING if due > now else TriggerState.SKIPPED
        return PlannedTrigger(
            trigger_id(event_id, type_, minutes_before=minutes), type_, minutes, due, state
        )

    plan = [
        planned(EventType.REMINDER, start_utc - timedelta(minutes=m), m)
        for m in sorted(set(reminders), reverse=True)
    ]
    plan.append(planned(EventType.STARTED, start_utc))
    plan.append(planned(EventType.ENDED, end_utc))
    return plan


class Verdict(StrEnum):
    FIRE = "fire"
    EXPIRED = "expired"
    MISSED = "missed"
    SUPERSEDED = "superseded"
    CANCELLED = "cancelled"


def judge(
    *,
    type_: EventType,
    due_at: datetime,
    now: datetime,
    grace_seconds: float,
    event_status: str | None,
    event_start: datetime | None,
    actual_start: datetime | None,
    actual_end: datetime | None,
) -> Verdict:
    """What a claimed trigger should do at ``now``.

    A reminder is pointless once its event has started (expired); a scheduled
    start or end that an operator already announced is superseded; anything
    later than the grace period is missed rather than sent confusingly late.
    """
    if type_ in SCHEDULED_TYPES and event_status == "cancelled":
        return Verdict.CANCELLED
    reminder = type_ is EventType.REMINDER
    if reminder and (actual_start is not None or (event_start and now >= event_start)):
        return Verdict.EXPIRED
    if type_ is EventType.STARTED and actual_start is not None and actual_start < due_at:
        return Verdict.SUPERSEDED
    if type_ is EventType.ENDED and actual_end is not None and actual_end < due_at:
        return Verdict.SUPERSEDED
    if type_ is EventType.ENDED and actual_start is not None and actual_end is None:
        # started by an operator and still running past its scheduled end
        # (overrunning): the end goes out when the operator ends it
        return Verdict.SUPERSEDED
    if (now - due_at).total_seconds() > grace_seconds:
        return Verdict.MISSED
    return Verdict.FIRE
