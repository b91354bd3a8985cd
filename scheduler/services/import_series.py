"""Importing a recurring event as one of our series.

The series is created (or changed) from the file's master: title, zone, wall
times, rule. Then each of its occurrences in the import window is made to
hold what the file's own expansion says of that instance (found by the
instance's planned start, its RECURRENCE-ID): an override moves or renames
that occurrence (it becomes an exception), a cancelled instance or one the
file excludes (EXDATE) is cancelled. A rule the series API refuses leaves the
recurring event to be imported as its occurrences, like any other.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from scheduler.calendar.imported import SourceEvent, SourceSeries
from scheduler.exceptions import Conflict, InvalidInput, NotFound
from scheduler.models import Event, EventUpdate, Series, SeriesCreate, SeriesUpdate
from scheduler.services.series import SeriesService
from scheduler.status import CANCELLED
from scheduler.store import series as series_store

#: (event, what the file says of it) -> the fields to change (``services.imports``)
Differ = Callable[[Event, SourceEvent, str | None], dict[str, object]]
#: (uid, reason): something of the file that was not imported
Skip = Callable[[str, str], None]


@dataclass
class SeriesTally:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    #: occurrences changed or cancelled to match the file
    events_updated: list[str] = field(default_factory=list)
    events_cancelled: list[str] = field(default_factory=list)


class SeriesImport:
    def __init__(self, series: SeriesService, differ: Differ, skip: Skip) -> None:
        self.series = series
        self.differ = differ
        self.skip = skip

    async def run(
        self,
        wanted: SourceSeries,
        occurrences: list[SourceEvent],
        *,
        found: Series | None,
        source: str,
        channel: str | None,
        window: tuple[datetime, datetime],
        tally: SeriesTally,
    ) -> bool:
        """Bring the series in line with the file; False when the series API
        refused it (the caller imports its occurrences as events instead)."""
        if found is None:
            try:
                view = await self.series.create(
                    SeriesCreate(**_fields(wanted, channel)), imported_as=(source, wanted.key)
                )
            except (InvalidInput, ValidationError):
                return False
            series = view.series
            tally.created.append(series.id)
        else:
            series = found
            changes = _series_changes(series, wanted, channel)
            if series.status == CANCELLED or not changes:
                tally.unchanged.append(series.id)
            else:
                try:
                    view = await self.series.update(series.id, SeriesUpdate(**changes))
                except (InvalidInput, Conflict, ValidationError) as err:
                    self.skip(wanted.uid, f"series {series.id} was not changed: {err}")
                    tally.unchanged.append(series.id)
                    return True
                series = view.series
                tally.updated.append(series.id)
        await self._occurrences(series, occurrences, wanted.overrides, channel, window, tally)
        return True

    async def _occurrences(
        self,
        series: Series,
        wanted: list[SourceEvent],
        overrides: tuple[SourceEvent, ...],
        channel: str | None,
        window: tuple[datetime, datetime],
        tally: SeriesTally,
    ) -> None:
        # the file's overrides as written (one moved out of the window is still
        # a move, not a cancel), then what its expansion in the window says
        by_instance = {e.recurrence_id: e for e in overrides if e.recurrence_id is not None}
        by_instance.update((e.recurrence_id, e) for e in wanted if e.recurrence_id is not None)
        async with self.series.db.session() as session:
            ours = await series_store.occurrences(session, series.id)
        start, end = window
        for event in ours:
            rid = event.recurrence_id
            if rid is None or not start - timedelta(days=1) <= rid < end or event.end_utc <= start:
                continue
            said = by_instance.get(rid)
            if event.status == CANCELLED:
                continue  # cancelled here (or by a pause) stays so
            if said is None or said.cancelled:
                await self._apply(self.series.events.cancel, event.id, tally.events_cancelled)
                continue
            changes = self.differ(event, said, channel)
            if changes:
                update = EventUpdate.model_validate(changes)

                async def change(event_id: str, update: EventUpdate = update) -> object:
                    return await self.series.events.update(event_id, update)

                await self._apply(change, event.id, tally.events_updated)

    async def _apply(
        self,
        action: Callable[[str], Coroutine[Any, Any, object]],
        event_id: str,
        done: list[str],
    ) -> None:
        try:
            await action(event_id)
        except (InvalidInput, Conflict, NotFound, ValidationError):
            return
        done.append(event_id)


def _fields(wanted: SourceSeries, channel: str | None) -> dict[str, Any]:
    values: dict[str, Any] = {
        "title": wanted.title,
        "description": wanted.description,
        "location": wanted.location,
        "stream_url": wanted.stream_url,
        "timezone": wanted.timezone,
        "start": wanted.start.isoformat(timespec="minutes"),
        "end": wanted.end.isoformat(timespec="minutes"),
        "rrule": wanted.rrule.strip().upper(),  # as the series stores it
    }
    if channel is not None:
        values["channel"] = channel
    return values


def _series_changes(series: Series, wanted: SourceSeries, channel: str | None) -> dict[str, Any]:
    target = _fields(wanted, channel)
    current = {
        "title": series.title,
        "description": series.description,
        "location": series.location,
        "stream_url": series.stream_url,
        "timezone": series.timezone,
        "start": series.start_local.isoformat(timespec="minutes"),
        "end": series.end_local.isoformat(timespec="minutes"),
        "rrule": series.rrule,
        "channel": series.channel,
    }
    changes = {k: v for k, v in target.items() if current[k] != v}
    if {"timezone", "start", "end", "rrule"} & changes.keys():
        changes.update({k: target[k] for k in ("timezone", "start", "end", "rrule")})
    return changes
