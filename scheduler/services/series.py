"""The series service: create, read, change, cancel and delete recurring series.

A series is stored once and its occurrences as event rows up to
``series_horizon_days`` ahead (``services.occurrences`` builds and changes
them like any event). A change to the series (title, times, zone, rule)
re-plans the future: each future occurrence is paired with the new rule's
occurrence on the same local date (the n-th of that date), so a new time or
zone moves it in place (same id, ``event.updated``), a new rule that no longer
yields a date removes its occurrence (or cancels it when a message about it
already went out), and new dates are added. Exceptions (occurrences changed
or cancelled on their own) keep their times and fields; only their recurrence
id follows their date's new instance, so a calendar still attaches them.
Occurrences that have started or ended are never rewritten.

Rules are checked off the event loop (``services.series_rules``); the future
is re-planned by ``services.series_replan``; series are extended as time
passes by ``services.series_extension``; pauses are ``services.series_pauses``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pydantic import BaseModel

from scheduler.config import Settings
from scheduler.etags import check_if_match
from scheduler.exceptions import (
    Conflict,
    IdempotencyKeyReused,
    InvalidInput,
    StoreBusy,
    StoreConflict,
)
from scheduler.models import (
    Event,
    IdempotencyRecord,
    Series,
    SeriesCreate,
    SeriesUpdate,
    new_id,
)
from scheduler.models.changes import Change, ChangeKind
from scheduler.models.series import ACTIVE, SERIES_CANCELLED
from scheduler.series.rules import (
    Recurrence,
    first_instant,
    read_rule,
)
from scheduler.services import occurrences as occ
from scheduler.services.events import (
    DELETE_ATTEMPTS,
    EventService,
    decode_cursor,
    encode_position,
)
from scheduler.services.series_replan import add_occurrences, replan
from scheduler.services.series_rules import (
    RuleChecks,
    RulePlan,
    plan_change,
    plan_rule,
    wall_time,
)
from scheduler.store import idempotency as idempotency_store
from scheduler.store import series as series_store
from scheduler.store.database import Session
from scheduler.timezones import canonical_zone_name

SERIES_SCOPE = "POST /api/series"
#: occurrences shown with a series
NEXT_SHOWN = 5


@dataclass(frozen=True)
class SeriesView:
    series: Series
    upcoming: list[Event]
    replayed: bool = False


@dataclass(frozen=True)
class Page:
    items: list[SeriesView]
    next_cursor: str | None


def _fingerprint(data: BaseModel) -> str:
    body = json.dumps(data.model_dump(exclude_unset=True), sort_keys=True, default=str)
    return hashlib.sha256(body.encode()).hexdigest()


class SeriesService:
    """Series use cases over the events' database and change publisher."""

    def __init__(self, events: EventService) -> None:
        self.events = events
        self.db = events.db
        self.settings: Settings = events.settings
        self.clock = events.clock
        self.changes = events.changes
        self.horizon = timedelta(days=self.settings.series_horizon_days)
        self.checks = RuleChecks()

    # --- reading ---------------------------------------------------------------------

    async def get(self, series_id: str) -> SeriesView:
        async with self.db.session() as session:
            series = await series_store.require(session, series_id)
            upcoming = await series_store.next_occurrences(
                session, [series.id], now=self.clock(), limit=NEXT_SHOWN
            )
        return SeriesView(series, upcoming[series.id])

    async def list_page(self, *, cursor: str | None = None, limit: int | None = None) -> Page:
        size = self.settings.page_size_default if limit is None else limit
        if not 1 <= size <= self.settings.page_size_max:
            raise InvalidInput(
                f"limit must be between 1 and {self.settings.page_size_max}", field="limit"
            )
        after = decode_cursor(cursor) if cursor else None
        async with self.db.session() as session:
            rows = list(await series_store.list_page(session, after=after, limit=size + 1))
            items = rows[:size]
            upcoming = await series_store.next_occurrences(
                session, [s.id for s in items], now=self.clock(), limit=NEXT_SHOWN
            )
        last = items[-1] if items and len(rows) > size else None
        next_cursor = encode_position(last.created_at, last.id) if last else None
        return Page([SeriesView(s, upcoming[s.id]) for s in items], next_cursor)

    # --- writing ---------------------------------------------------------------------

    async def create(
        self,
        data: SeriesCreate,
        *,
        idempotency_key: str | None = None,
        imported_as: tuple[str, str] | None = None,
    ) -> SeriesView:
        """Store a series with its occurrences up to the horizon, all or nothing
        (``imported_as``: the import source and key an import finds it by)."""
        try:
            zone = canonical_zone_name(data.timezone)
        except InvalidInput as err:
            raise err.for_field("timezone") from None
        start, end = wall_time(data.start, "start"), wall_time(data.end, "end")
        fingerprint = _fingerprint(data)
        if idempotency_key is not None:
            replay = await self._replay(idempotency_key, fingerprint)
            if replay is not None:
                return replay
        plan = await plan_rule(
            self.settings, self.clock(), zone, start, end, data.rrule, checks=self.checks
        )
        now = self.clock()
        reminders = (
            data.reminders if data.reminders is not None else list(self.settings.default_reminders)
        )
        series = Series(
            id=new_id(),
            title=data.title,
            description=data.description,
            stream_url=data.stream_url,
            location=data.location,
            channel=data.channel,
            timezone=zone,
            start_local=start,
            end_local=end,
            rrule=plan.recurrence.text,
            reminders=reminders,
            tags=data.tags or [],
            status=ACTIVE,
            sequence=0,
            materialized_until=plan.until,
            created_at=now,
            updated_at=now,
            import_source=imported_as[0] if imported_as else None,
            import_key=imported_as[1] if imported_as else None,
        )
        outcome = occ.Outcome()
        try:
            async with self.db.session() as session:
                if idempotency_key is not None:
                    record = IdempotencyRecord(
                        key=idempotency_key,
                        scope=SERIES_SCOPE,
                        fingerprint=fingerprint,
                        resource_id=series.id,
                        created_at=now,
                    )
                    ttl = timedelta(hours=self.settings.idempotency_ttl_hours)
                    await idempotency_store.remember(session, record, expired_before=now - ttl)
                series_store.add(session, series)
                await session.flush()
                await add_occurrences(session, series, plan.occurrences, [], now, outcome)
                await self.record_changes(session, series.id, outcome)
        except StoreConflict:
            if idempotency_key is None:
                raise
            replay = await self._replay(idempotency_key, fingerprint)
            if replay is None:
                raise Conflict(
                    "a request with this Idempotency-Key is being processed; retry shortly"
                ) from None
            return replay
        await self.publish_changes(series.id, outcome)
        return await self.get(series.id)

    async def _replay(self, key: str, fingerprint: str) -> SeriesView | None:
        expired = self.clock() - timedelta(hours=self.settings.idempotency_ttl_hours)
        async with self.db.session() as session:
            record = await idempotency_store.find(session, key, SERIES_SCOPE, newer_than=expired)
        if record is None:
            return None
        if record.fingerprint != fingerprint:
            raise IdempotencyKeyReused(
                "this Idempotency-Key was already used with a different request body; "
                "use a new key for a new series"
            )
        try:
            view = await self.get(record.resource_id)
        except Exception as err:
            raise Conflict(
                "the series created with this Idempotency-Key has since been deleted"
            ) from err
        return SeriesView(view.series, view.upcoming, replayed=True)

    async def update(
        self, series_id: str, data: SeriesUpdate, *, if_match: str | None = None
    ) -> SeriesView:
        fields = data.model_dump(exclude_unset=True)
        for required in ("title", "timezone", "start", "end", "rrule"):
            if required in fields and fields[required] is None:
                raise InvalidInput(f"{required} cannot be removed", field=required)
        async with self.db.session() as session:
            current = await series_store.require(session, series_id)
        timing = (current.timezone, current.start_local, current.end_local, current.rrule)
        plan = await plan_change(self.settings, self.clock(), current, fields, checks=self.checks)
        now = self.clock()
        outcome = occ.Outcome()
        async with self.db.session() as session:
            series = await series_store.require(session, series_id, for_update=True)
            check_if_match(if_match, series, what="series")
            if series.status != ACTIVE:
                raise Conflict("this series is cancelled and can no longer change")
            if (series.timezone, series.start_local, series.end_local, series.rrule) != timing:
                raise Conflict("the series changed while this request was checked; retry")
            old_zone = series.timezone
            before = _series_fields(series)
            for name in ("title", "description", "stream_url", "location", "channel"):
                if name in fields:
                    setattr(series, name, fields[name])
            if "tags" in fields:
                series.tags = fields["tags"] or []
            if "reminders" in fields:
                series.reminders = (
                    fields["reminders"]
                    if fields["reminders"] is not None
                    else list(self.settings.default_reminders)
                )
            if plan is not None:
                series.timezone = plan.recurrence.zone
                series.start_local = plan.recurrence.first_wall
                series.end_local = plan.first_end
                series.rrule = plan.recurrence.text
            if _series_fields(series) == before:
                return await self._view(session, series)
            series.sequence += 1
            series.updated_at = now
            if plan is None:  # the same rule: its future occurrences, as checked before
                recurrence = self.recurrence_of(series)
                until = max(first_instant(series.timezone, series.start_local), now)
                until += self.horizon
                found = recurrence.between(now, until, limit=self.settings.series_max_occurrences)
                plan = RulePlan(recurrence, found, until, series.end_local)
            await replan(session, series, plan.occurrences, plan.until, old_zone, now, outcome)
            await self.record_changes(session, series.id, outcome)
            view = await self._view(session, series)
        await self.publish_changes(series.id, outcome)
        return view

    def recurrence_of(self, series: Series) -> Recurrence:
        return read_rule(
            series.rrule,
            zone=series.timezone,
            first_wall=series.start_local,
            first_end=series.end_local,
        )

    async def cancel(self, series_id: str, *, if_match: str | None = None) -> SeriesView:
        """Cancel every future occurrence; the series stops."""
        now = self.clock()
        outcome = occ.Outcome()
        async with self.db.session() as session:
            series = await series_store.require(session, series_id, for_update=True)
            check_if_match(if_match, series, what="series")
            if series.status == SERIES_CANCELLED:
                return await self._view(session, series)
            rows = await series_store.occurrences(session, series.id)
            future = [r for r in rows if r.start_utc > now and r.actual_start is None]
            await occ.cancel_all(session, future, now=now, outcome=outcome)
            series.status = SERIES_CANCELLED
            series.sequence += 1
            series.updated_at = now
            await self.record_changes(session, series.id, outcome)
            view = await self._view(session, series)
        await self.publish_changes(series.id, outcome)
        return view

    async def delete(self, series_id: str, *, if_match: str | None = None) -> None:
        """Delete the series and every occurrence (as a deleted event each)."""
        for attempt in range(DELETE_ATTEMPTS):
            outcome = occ.Outcome()
            try:
                async with self.db.session() as session:
                    series = await series_store.require(session, series_id, for_update=True)
                    check_if_match(if_match, series, what="series")
                    for row in await series_store.occurrences(session, series.id):
                        outcome.add(ChangeKind.DELETED, None, row.id, row.channel)
                    await series_store.remove(session, series.id)
                    await self.record_changes(session, series.id, outcome)
                break
            except StoreBusy:
                # as for an event: the cascade to triggers can deadlock with a
                # dispatcher firing one of them (PostgreSQL aborts one side)
                if attempt == DELETE_ATTEMPTS - 1:
                    raise
        await self.publish_changes(series_id, outcome)

    # --- telling -----------------------------------------------------------------------

    async def _view(self, session: Session, series: Series) -> SeriesView:
        upcoming = await series_store.next_occurrences(
            session, [series.id], now=self.clock(), limit=NEXT_SHOWN
        )
        return SeriesView(series, upcoming[series.id])

    async def record_changes(self, session: Session, series_id: str, outcome: occ.Outcome) -> None:
        await self.changes.record_many(session, [*outcome.notices, (ChangeKind.SERIES, series_id)])

    async def publish_changes(self, series_id: str, outcome: occ.Outcome) -> None:
        for change in outcome.changes:
            await self.changes.publish(change)
        await self.changes.publish(Change(ChangeKind.SERIES, series_id))


def _series_fields(series: Series) -> tuple[Any, ...]:
    return (
        series.title,
        series.description,
        series.stream_url,
        series.location,
        series.channel,
        list(series.reminders),
        list(series.tags),
        series.timezone,
        series.start_local,
        series.end_local,
        series.rrule,
    )
