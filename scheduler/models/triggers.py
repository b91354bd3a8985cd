"""What planning hands the store: the triggers an event needs (types only)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from scheduler.models.webhooks import EventType, TriggerState

#: the triggers an event's schedule plans (a change or cancellation adds others)
SCHEDULED_TYPES = (EventType.REMINDER, EventType.STARTED, EventType.ENDED)


@dataclass(frozen=True)
class PlannedTrigger:
    id: str
    type: EventType
    minutes_before: int | None
    due_at: datetime
    state: TriggerState
