"""How an event looks from outside: the models the API returns and the CLI prints.

Pure: given a row and ``now``, build the public model. Every instant appears
twice, as the wall time with offset in the event's own zone and as the UTC
instant. The HTTP layer serialises these models; the CLI and webhook payloads
take their JSON form from :func:`event_public`, so all three agree.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from scheduler.calendar.links import event_links
from scheduler.models import Event, EventLinks, EventPublic, EventStatus, Trigger, TriggerPublic
from scheduler.status import Lifecycle, lifecycle
from scheduler.timezones import isoformat_utc, to_local


def lifecycle_of(event: Event, now: datetime) -> Lifecycle:
    return lifecycle(
        status=event.status,
        start_utc=event.start_utc,
        end_utc=event.end_utc,
        actual_start=event.actual_start,
        actual_end=event.actual_end,
        now=now,
    )


def event_status(event: Event, *, now: datetime) -> EventStatus:
    """``GET /api/events/{id}/status``: is it live yet, and how long until it is."""
    state = lifecycle_of(event, now)
    # rows are trusted: construct without validating again (list pages build hundreds)
    return EventStatus.model_construct(
        id=event.id,
        title=event.title,
        state=state.state.value,
        overrunning=state.overrunning,
        starts_at=event.actual_start or event.start_utc,
        ends_at=event.actual_end or event.end_utc,
        scheduled_start=event.start_utc,
        scheduled_end=event.end_utc,
        actual_start=event.actual_start,
        actual_end=event.actual_end,
        starts_in_seconds=round((event.start_utc - now).total_seconds(), 3),
        ends_in_seconds=round((event.end_utc - now).total_seconds(), 3),
        stream_url=event.stream_url,
        channel=event.channel,
        now=now,
    )


def status_public(event: Event, *, now: datetime) -> dict[str, Any]:
    """:func:`event_status` as JSON-ready data (live streams send it as it is)."""
    return event_status(event, now=now).model_dump(mode="json")


def trigger_model(trigger: Trigger) -> TriggerPublic:
    return TriggerPublic.model_construct(
        type=trigger.type,
        minutes_before=trigger.minutes_before,
        due_at=trigger.due_at,
        state=trigger.state,
    )


def event_model(
    event: Event,
    *,
    now: datetime,
    triggers: list[Trigger] | None = None,
    base_url: str | None = None,
) -> EventPublic:
    """The API representation of ``event`` at ``now``.

    With ``triggers``, it lists when each reminder goes out; with ``base_url``,
    it carries iCal, subscribe and "add to calendar" links. Without them those
    fields are left unset, so :func:`event_public` leaves them out.
    """
    state = lifecycle_of(event, now)
    fields: dict[str, Any] = {
        "id": event.id,
        "title": event.title,
        "description": event.description,
        "stream_url": event.stream_url,
        "location": event.location,
        "channel": event.channel,
        "timezone": event.timezone,
        "start": to_local(event.timezone, event.start_utc),
        "end": to_local(event.timezone, event.end_utc),
        "start_utc": event.start_utc,
        "end_utc": event.end_utc,
        "reminders": list(event.reminders),
        "status": event.status,
        "state": state.state.value,
        "overrunning": state.overrunning,
        "actual_start": event.actual_start,
        "actual_end": event.actual_end,
        "cancelled_at": event.cancelled_at,
        "sequence": event.sequence,
        "created_at": event.created_at,
        "updated_at": event.updated_at,
    }
    if triggers is not None:
        fields["triggers"] = [trigger_model(t) for t in triggers]
    if base_url is not None:
        links = event_links(
            event,
            base_url,
            start_utc=isoformat_utc(event.start_utc),
            end_utc=isoformat_utc(event.end_utc),
        )
        fields["links"] = EventLinks(**links)
    return EventPublic.model_construct(**fields)


def event_public(
    event: Event,
    *,
    now: datetime,
    triggers: list[Trigger] | None = None,
    base_url: str | None = None,
) -> dict[str, Any]:
    """:func:`event_model` as JSON-ready data (webhook payloads, the CLI)."""
    model = event_model(event, now=now, triggers=triggers, base_url=base_url)
    return model.model_dump(mode="json", exclude_unset=True)
