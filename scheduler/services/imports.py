"""Importing a calendar file: create, update or cancel our events to match it.

Each event of the file is found again by its import source and key (the
file's UID, plus RECURRENCE-ID for an occurrence; ``calendar.reading``), so
importing the same file twice changes nothing and an edited file changes only
what was edited. Creates go through the event service's group-committing
writer in concurrent chunks, so a large file is written in a transaction per
batch of events, not one per event; each event then has its triggers,
webhooks and feed entry like one created through the API. Events whose UID is
gone from the file are cancelled only when the caller asks (``prune``).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from pydantic import ValidationError

from scheduler.calendar.imported import Reading, Refusal, SourceEvent
from scheduler.calendar.reading import read_calendar
from scheduler.config import Settings
from scheduler.exceptions import Conflict, InvalidInput, NotFound
from scheduler.models import Event, EventCreate, EventUpdate, ImportIds, ImportReport, ImportSkip
from scheduler.services.events import EventService
from scheduler.services.import_series import SeriesImport, SeriesTally
from scheduler.services.series import SeriesService
from scheduler.status import CANCELLED
from scheduler.store import events as event_store
from scheduler.store import series as series_store
from scheduler.timezones import Clock, isoformat_utc

#: creates started together; the writer groups whatever is waiting into one
#: transaction, so this bounds a batch (and the memory of those in flight)
CREATE_CHUNK = 500


@dataclass
class _Tally:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    skipped: list[ImportSkip] = field(default_factory=list)
    series: SeriesTally = field(default_factory=SeriesTally)

    def skip(self, event: SourceEvent, reason: str) -> None:
        rid = isoformat_utc(event.recurrence_id) if event.recurrence_id else None
        self.skipped.append(ImportSkip(uid=event.uid, recurrence_id=rid, reason=reason))

    def report(self, source: str) -> ImportReport:
        updated = self.updated + self.series.events_updated
        cancelled = self.cancelled + self.series.events_cancelled
        return ImportReport(
            source=source,
            created=len(self.created),
            updated=len(updated),
            unchanged=len(self.unchanged),
            cancelled=len(cancelled),
            skipped=len(self.skipped),
            ids=ImportIds(
                created=self.created,
                updated=updated,
                unchanged=self.unchanged,
                cancelled=cancelled,
            ),
            series=ImportIds(
                created=self.series.created,
                updated=self.series.updated,
                unchanged=self.series.unchanged,
                cancelled=self.series.cancelled,
            ),
            skipped_events=self.skipped,
        )


class ImportService:
    def __init__(
        self,
        events: EventService,
        settings: Settings,
        clock: Clock,
        series: SeriesService | None = None,
    ) -> None:
        self.events = events
        self.settings = settings
        self.clock = clock
        self.series = series

    async def run(
        self, data: bytes, *, source: str, channel: str | None = None, prune: bool = False
    ) -> ImportReport:
        now = self.clock()
        horizon = timedelta(days=self.settings.import_horizon_days)
        # parsing and expanding a large file takes a while: off the event loop
        reading: Reading = await asyncio.to_thread(read_calendar, data, now=now, horizon=horizon)
        tally = _Tally()
        tally.skipped.extend(_skip(r) for r in reading.refused)
        await self._series(reading, source, channel, prune, (now, now + horizon), tally)
        keys = [e.key for e in reading.events]
        async with self.events.db.session() as session:
            existing = await event_store.imported(session, source, keys)
        new: list[SourceEvent] = []
        for event in reading.events:
            found = existing.get(event.key)
            if found is not None:
                await self._reconcile(found, event, channel, tally)
            elif event.cancelled:
                tally.skip(event, "cancelled in the file")
            elif event.end <= now:
                tally.skip(event, "ended before the import")
            else:
                new.append(event)
        for i in range(0, len(new), CREATE_CHUNK):
            chunk = new[i : i + CREATE_CHUNK]
            results = await asyncio.gather(
                *(self._create(e, source, channel) for e in chunk), return_exceptions=True
            )
            for event, result in zip(chunk, results, strict=True):
                if isinstance(result, InvalidInput | Conflict | ValidationError):
                    tally.skip(event, _reason(result))
                elif isinstance(result, BaseException):
                    raise result
                else:
                    tally.created.append(result)
        await self._take_out(source, reading, set(keys), prune, tally)
        return tally.report(source)

    async def _series(
        self,
        reading: Reading,
        source: str,
        channel: str | None,
        prune: bool,
        window: tuple[datetime, datetime],
        tally: _Tally,
    ) -> None:
        """Recurring events as series (``services.import_series``); one the series
        API refuses joins the events as its occurrences."""
        if self.series is None:
            for occurrences in reading.recurring.values():
                reading.events.extend(occurrences)
            return

        def skip(uid: str, reason: str) -> None:
            tally.skipped.append(ImportSkip(uid=uid, recurrence_id=None, reason=reason))

        importer = SeriesImport(self.series, _changes, skip)
        async with self.events.db.session() as session:
            found = await series_store.imported(session, source, [s.key for s in reading.series])
        now = window[0]
        for wanted in reading.series:
            occurrences = reading.recurring.get(wanted.uid, [])
            if wanted.key not in found and wanted.first_start < now - timedelta(days=1):
                # a schedule that began before this first import: its coming
                # occurrences, as events (a series would start in the past)
                reading.events.extend(occurrences)
                continue
            done = await importer.run(
                wanted,
                occurrences,
                found=found.get(wanted.key),
                source=source,
                channel=channel,
                window=window,
                tally=tally.series,
            )
            if not done:
                reading.events.extend(occurrences)
        if prune:
            async with self.events.db.session() as session:
                ours = await series_store.imported_active(session, source)
            for series_id, key in ours:
                if key[: len(key) // 2] not in reading.uids:
                    try:
                        await self.series.cancel(series_id)
                    except (Conflict, NotFound):
                        continue
                    tally.series.cancelled.append(series_id)

    async def _create(self, event: SourceEvent, source: str, channel: str | None) -> str:
        data = EventCreate(
            title=event.title,
            description=event.description,
            location=event.location,
            stream_url=event.stream_url,
            channel=channel,
            timezone=event.timezone,
            start=event.start.isoformat(timespec="seconds"),
            end=event.end.isoformat(timespec="seconds"),
        )
        created = await self.events.create(data, imported_as=(source, event.key))
        return created.event.id

    async def _reconcile(
        self, ours: Event, event: SourceEvent, channel: str | None, tally: _Tally
    ) -> None:
        if ours.status == CANCELLED:
            if event.cancelled:
                tally.unchanged.append(ours.id)
            else:
                tally.skip(event, f"event {ours.id} was cancelled here and stays cancelled")
            return
        if event.cancelled:
            try:
                await self.events.cancel(ours.id)
            except (Conflict, NotFound) as err:
                tally.skip(event, _reason(err))
                return
            tally.cancelled.append(ours.id)
            return
        changes = _changes(ours, event, channel)
        if not changes:
            tally.unchanged.append(ours.id)
            return
        try:
            await self.events.update(ours.id, EventUpdate.model_validate(changes))
        except (InvalidInput, Conflict, NotFound, ValidationError) as err:
            tally.skip(event, _reason(err))
            return
        tally.updated.append(ours.id)

    async def _take_out(
        self, source: str, reading: Reading, keys: set[str], prune: bool, tally: _Tally
    ) -> None:
        """Cancel what the file took out: an occurrence a recurring event whose
        occurrences were all read no longer yields (always), and, with ``prune``,
        the events of a UID no longer in the file at all. Past events stay."""
        async with self.events.db.session() as session:
            ours = await event_store.imported_open(session, source, now=self.clock())
        for event_id, key in ours:
            if key in keys:
                continue
            uid = key[: len(key) // 2]
            vanished = uid in reading.complete
            if not vanished and not (prune and uid not in reading.uids):
                continue
            try:
                await self.events.cancel(event_id)
            except (Conflict, NotFound):
                continue  # cancelled or deleted meanwhile: nothing left to take out
            tally.cancelled.append(event_id)


def _changes(ours: Event, event: SourceEvent, channel: str | None) -> dict[str, object]:
    """The fields of ``ours`` the file now says otherwise (an ``EventUpdate``)."""
    changes: dict[str, object] = {}
    for name in ("title", "description", "location", "stream_url"):
        if getattr(ours, name) != getattr(event, name):
            changes[name] = getattr(event, name)
    if channel is not None and ours.channel != channel:
        changes["channel"] = channel
    # compared in UTC: an aware time in a repeated (fall-back) hour never equals
    # one in another zone (PEP 495), so the same instant would read as moved
    moved = (ours.start_utc, ours.end_utc) != (
        event.start.astimezone(UTC),
        event.end.astimezone(UTC),
    )
    if moved or ours.timezone != event.timezone:
        changes.update(
            timezone=event.timezone,
            start=event.start.isoformat(timespec="seconds"),
            end=event.end.isoformat(timespec="seconds"),
        )
    return changes


def _skip(refusal: Refusal) -> ImportSkip:
    return ImportSkip(uid=refusal.uid, recurrence_id=refusal.recurrence_id, reason=refusal.reason)


def _reason(err: Exception) -> str:
    if isinstance(err, ValidationError):
        return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors())
    field_name = getattr(err, "field", None)
    return f"{field_name}: {err}" if field_name else str(err)
