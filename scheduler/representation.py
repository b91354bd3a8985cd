"""How an event looks from outside: the JSON the API returns and the CLI prints.

Pure: given a row and ``now``, build a dict. Every instant appears twice, as
the wall time with offset in the event's own zone and as the UTC instant.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from scheduler.calendar.links import event_links
from scheduler.models import Event, Trigger
from scheduler.status import Lifecycle, lifecycle
from scheduler.timezones import isoformat_local, isoformat_utc


def _utc(value: datetime | None) -> str | None:
    return isoformat_utc(value) if value is not None else None


def lifecycle_of(event: Event, now: datetime) -> Lifecycle:
    return lifecycle(
        status=event.status,
        start_utc=event.start_utc,
        end_utc=event.end_utc,
        actual_start=event.actual_start,
        actual_end=event.actual_end,
        now=now,
    )


def status_public(event: Event, *, now: datetime) -> dict[str, Any]:
    """``GET /api/events/{id}/status``: is it live yet, and how long until it is."""
    state = lifecycle_of(event, now)
    return {
        "id": event.id,
        "title": event.title,
        "state": state.state.value,
        "overrunning": state.overrunning,
        "starts_at": isoformat_utc(event.actual_start or event.start_utc),
        "ends_at": isoformat_utc(event.actual_end or event.end_utc),
        "scheduled_start": isoformat_utc(event.start_utc),
        "scheduled_end": isoformat_utc(event.end_utc),
        "actual_start": _utc(event.actual_start),
        "actual_end": _utc(event.actual_end),
        "starts_in_seconds": round((event.start_utc - now).total_seconds(), 3),
        "ends_in_seconds": round((event.end_utc - now).total_seconds(), 3),
        "stream_url": event.stream_url,
        "channel": event.channel,
        "now": isoformat_utc(now),
    }


def trigger_public(trigger: Trigger) -> dict[str, Any]:
    return {
        "type": trigger.type,
        "minutes_before": trigger.minutes_before,
        "due_at": isoformat_utc(trigger.due_at),
        "state": trigger.state,
    }


def event_public(
    event: Event,
    *,
    now: datetime,
    triggers: list[Trigger] | None = None,
    base_url: str | None = None,
) -> dict[str, Any]:
    """The API representation of ``event`` at ``now``.

    With ``triggers``, it lists when each reminder goes out; with ``base_url``,
    it carries iCal, subscribe and "add to calendar" links.
    """
    state = lifecycle_of(event, now)
    start_utc, end_utc = isoformat_utc(event.start_utc), isoformat_utc(event.end_utc)
    view: dict[str, Any] = {
        "id": event.id,
        "title": event.title,
        "description": event.description,
        "stream_url": event.stream_url,
        "location": event.location,
        "channel": event.channel,
        "timezone": event.timezone,
        "start": isoformat_local(event.timezone, event.start_utc),
        "end": isoformat_local(event.timezone, event.end_utc),
        "start_utc": start_utc,
        "end_utc": end_utc,
        "reminders": list(event.reminders),
        "status": event.status,
        "state": state.state.value,
        "overrunning": state.overrunning,
        "actual_start": _utc(event.actual_start),
        "actual_end": _utc(event.actual_end),
        "cancelled_at": _utc(event.cancelled_at),
        "sequence": event.sequence,
        "created_at": isoformat_utc(event.created_at),
        "updated_at": isoformat_utc(event.updated_at),
    }
    if triggers is not None:
        view["triggers"] = [trigger_public(t) for t in triggers]
    if base_url is not None:
        view["links"] = event_links(event, base_url, start_utc=start_utc, end_utc=end_utc)
    return view
