"""How an event looks from outside: the models the API returns and the CLI prints.

Pure: given a row and ``now``, build the public model. Every instant appears
twice, as the wall time with offset in the event's own zone and as the UTC
instant. The HTTP layer serialises these models; the CLI and webhook payloads
take their JSON form from :func:`event_public`, so all three agree.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from scheduler.calendar.links import event_links
from scheduler.models import (
    Event,
    EventLinks,
    EventPublic,
    EventStatus,
    PausePublic,
    Series,
    SeriesPause,
    SeriesPublic,
    Trigger,
    TriggerPublic,
)
from scheduler.status import Lifecycle, lifecycle
from scheduler.timezones import isoformat_utc, rule_wall_time, to_local


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


#: every field a status body shows -> the parts of it that do not move with the
#: clock; emptied when it holds this many (a version is a few hundred bytes)
_STATUS_PARTS_MAX = 20_000
_kept_status_parts: dict[tuple[Any, ...], tuple[str, ...]] = {}


def _json_instant(instant: datetime | None) -> str:
    return "null" if instant is None else f'"{isoformat_utc(instant)}"'


def _status_parts(event: Event) -> tuple[str, ...]:
    key = (
        event.id,
        event.title,
        event.start_utc,
        event.end_utc,
        event.actual_start,
        event.actual_end,
        event.stream_url,
        event.channel,
    )
    parts = _kept_status_parts.get(key)
    if parts is None:
        text = json.dumps
        parts = (
            f'{{"id":{text(event.id)},"title":{text(event.title, ensure_ascii=False)},"state":"',
            '","overrunning":',
            f',"starts_at":{_json_instant(event.actual_start or event.start_utc)}'
            f',"ends_at":{_json_instant(event.actual_end or event.end_utc)}'
            f',"scheduled_start":{_json_instant(event.start_utc)}'
            f',"scheduled_end":{_json_instant(event.end_utc)}'
            f',"actual_start":{_json_instant(event.actual_start)}'
            f',"actual_end":{_json_instant(event.actual_end)}'
            ',"starts_in_seconds":',
            ',"ends_in_seconds":',
            f',"stream_url":{text(event.stream_url, ensure_ascii=False)}'
            f',"channel":{text(event.channel)},"now":',
        )
        if len(_kept_status_parts) >= _STATUS_PARTS_MAX:
            _kept_status_parts.clear()
        _kept_status_parts[key] = parts
    return parts


def status_json(event: Event, *, now: datetime) -> bytes:
    """:func:`event_status` as the JSON bytes its model serialises to (the same
    fields, values and order), built from parts kept per event version: the
    status is read far more often than events change, and only the state, the
    two countdowns and ``now`` move with the clock."""
    state = lifecycle_of(event, now)
    head, overrunning, instants, ends_in, tail = _status_parts(event)
    starts_in_seconds = round((event.start_utc - now).total_seconds(), 3)
    ends_in_seconds = round((event.end_utc - now).total_seconds(), 3)
    return (
        f"{head}{state.state.value}{overrunning}{'true' if state.overrunning else 'false'}"
        f"{instants}{starts_in_seconds!r}{ends_in}{ends_in_seconds!r}{tail}"
        f'"{isoformat_utc(now)}"}}'
    ).encode()


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
        "tags": list(event.tags),
        "status": event.status,
        "state": state.state.value,
        "overrunning": state.overrunning,
        "actual_start": event.actual_start,
        "actual_end": event.actual_end,
        "cancelled_at": event.cancelled_at,
        "previous_start_utc": event.previous_start_utc,
        "sequence": event.sequence,
        "created_at": event.created_at,
        "updated_at": event.updated_at,
        "series_id": event.series_id,
        "recurrence_id": event.recurrence_id,
        "exception": event.exception,
        "cancel_reason": event.cancel_reason,
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


def series_model(series: Series, *, upcoming: list[Event], now: datetime) -> SeriesPublic:
    """The API representation of a series and its next occurrences."""
    start_utc = rule_wall_time(series.timezone, series.start_local).astimezone(UTC)
    end_utc = rule_wall_time(series.timezone, series.end_local).astimezone(UTC)
    return SeriesPublic.model_construct(
        id=series.id,
        title=series.title,
        description=series.description,
        stream_url=series.stream_url,
        location=series.location,
        channel=series.channel,
        timezone=series.timezone,
        start=to_local(series.timezone, start_utc),
        end=to_local(series.timezone, end_utc),
        start_utc=start_utc,
        end_utc=end_utc,
        rrule=series.rrule,
        tags=list(series.tags),
        reminders=list(series.reminders),
        status=series.status,  # type: ignore[arg-type]  # a Literal of the stored values
        sequence=series.sequence,
        materialized_until=series.materialized_until,
        created_at=series.created_at,
        updated_at=series.updated_at,
        next_occurrences=[event_model(e, now=now) for e in upcoming],
    )


def pause_model(pause: SeriesPause, *, cancelled: int) -> PausePublic:
    return PausePublic.model_construct(
        id=pause.id,
        series_id=pause.series_id,
        start=pause.start_date,
        end=pause.end_date,
        reason=pause.reason,
        cancelled=cancelled,
        created_at=pause.created_at,
    )
