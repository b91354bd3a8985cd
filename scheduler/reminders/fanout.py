"""Fan-out: claimed triggers become judged outcomes and delivery rows. Pure.

Each claimed trigger is judged as of its own due time (or now, if that has
passed): fire, expired, missed, superseded or cancelled. A trigger due now is
completed in the claiming transaction and its messages go out right after it;
one due later becomes a :class:`~scheduler.reminders.prepared.Prepared` whose
messages go out, and which is completed, at its instant. A firing trigger
gets one delivery per matching subscription, its body fixed here (in the
subscription's format: Standard Webhooks, or a chat platform's), claimed by
this process from birth (should it die, the lease expires and any replica
sends it under the same ``webhook-id``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from scheduler.models import (
    DeliveryState,
    Event,
    EventType,
    Subscription,
    Trigger,
    TriggerState,
    WebhookFormat,
)
from scheduler.reminders.planning import Verdict, judge
from scheduler.reminders.prepared import Prepared
from scheduler.representation import event_public
from scheduler.webhooks.chat import chat_body, event_notice
from scheduler.webhooks.payloads import build_body, delivery_id

VERDICT_STATE = {
    Verdict.FIRE: TriggerState.FIRED,
    Verdict.EXPIRED: TriggerState.EXPIRED,
    Verdict.MISSED: TriggerState.MISSED,
    Verdict.SUPERSEDED: TriggerState.SUPERSEDED,
    Verdict.CANCELLED: TriggerState.CANCELLED,
}
LIFECYCLE = (EventType.STARTED, EventType.ENDED)

#: (trigger type, event channel) -> the subscriptions that want it
Audience = Mapping[tuple[str, str | None], Sequence[Subscription]]


@dataclass(frozen=True)
class Judged:
    """A trigger completed in the claiming transaction (it was due already)."""

    trigger: Trigger
    state: TriggerState
    at: datetime
    late: float


@dataclass
class FanOut:
    judged: list[Judged] = field(default_factory=list)
    prepared: dict[str, Prepared] = field(default_factory=dict)  # trigger id -> prepared
    deliveries: list[dict[str, Any]] = field(default_factory=list)  # rows to insert
    subscribers: dict[str, Subscription] = field(default_factory=dict)
    lifecycle: list[Event] = field(default_factory=list)  # starts/ends processed now


def audience_keys(
    claimed: Sequence[Trigger], events: Mapping[str, Event]
) -> set[tuple[str, str | None]]:
    """The (type, channel) pairs whose subscriptions the fan-out needs."""
    return {(t.type, events[t.event_id].channel) for t in claimed if t.event_id in events}


def fan_out(
    claimed: Sequence[Trigger],
    *,
    events: Mapping[str, Event],
    audience: Audience,
    clock: Callable[[], datetime],
    owner: str,
    lease: timedelta,
    grace_seconds: float,
) -> FanOut:
    out = FanOut()
    for trigger in claimed:
        event = events.get(trigger.event_id)
        now = clock()
        ahead = trigger.due_at > now
        at = trigger.due_at if ahead else now  # judged as of its own time
        verdict = judge(
            type_=EventType(trigger.type),
            due_at=trigger.due_at,
            now=at,
            grace_seconds=grace_seconds,
            event_status=event.status if event else None,
            event_start=event.start_utc if event else None,
            actual_start=event.actual_start if event else None,
            actual_end=event.actual_end if event else None,
        )
        state = VERDICT_STATE[verdict]
        late = max(0.0, (at - trigger.due_at).total_seconds())
        lifecycle = event if event is not None and trigger.type in LIFECYCLE else None
        if ahead:
            # completed at its instant, when a start or end also changes the
            # event's state (an overrun begins at the scheduled end, say)
            out.prepared[trigger.id] = Prepared(trigger, state, lifecycle=lifecycle)
        else:
            out.judged.append(Judged(trigger, state, now, late))
            if lifecycle is not None:
                out.lifecycle.append(lifecycle)
        if verdict is not Verdict.FIRE or event is None:
            continue
        bodies: dict[str, str] = {}  # format -> body: built once per trigger and format
        for sub in audience.get((trigger.type, event.channel), ()):
            out.subscribers[sub.id] = sub
            body = bodies.get(sub.format)
            if body is None:
                body = bodies[sub.format] = _body(sub.format, trigger, event, at=at, late=late)
            out.deliveries.append(
                {
                    "id": delivery_id(trigger.id, trigger.generation, sub.id),
                    "subscription_id": sub.id,
                    "trigger_id": trigger.id,
                    "event_id": event.id,
                    "type": trigger.type,
                    "payload": body,
                    # claimed for this process from birth: sent right after
                    # commit, or at its instant if prepared ahead
                    "state": DeliveryState.DELIVERING.value,
                    "claimed_by": owner,
                    "claim_expires_at": at + lease,
                    "claim_attempt": 1,
                    "attempts": 0,
                    "next_attempt_at": at,
                    "created_at": now,
                }
            )
    return out


def _body(format_: str, trigger: Trigger, event: Event, *, at: datetime, late: float) -> str:
    """What ``trigger`` of ``event`` sends to subscriptions of ``format_``."""
    if format_ == WebhookFormat.STANDARD:
        return build_body(
            type_=trigger.type,
            now=at,
            event=event_public(event, now=at),
            minutes_before=trigger.minutes_before,
            scheduled_for=trigger.due_at,
            late_by_seconds=late,
        )
    moved = bool(trigger.detail and trigger.detail.get("moved"))
    notice = event_notice(trigger.type, event, minutes_before=trigger.minutes_before, moved=moved)
    return chat_body(format_, notice)
