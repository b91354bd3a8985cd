"""The series service: create, change, cancel, delete and extend recurring series.

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

Rule checks that may be slow (a rule that can never match makes dateutil walk
to the year 9999) run on a worker thread with a deadline.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from pydantic import BaseModel

from scheduler.config import Settings
from scheduler.etags import check_if_match
from scheduler.exceptions import (
    Conflict,
    IdempotencyKeyReused,
    InvalidInput,
    InvalidRule,
    InvalidTimeRange,
    StoreConflict,
)
from scheduler.models import (
    Event,
    IdempotencyRecord,
    Series,
    SeriesCreate,
    SeriesPause,
    SeriesUpdate,
    new_id,
)
from scheduler.models.changes import Change, ChangeKind
from scheduler.models.series import ACTIVE, SERIES_CANCELLED
from scheduler.series.rules import (
    Occurrence,
    Recurrence,
    check_limits,
    check_yields,
    first_instant,
    read_rule,
)
from scheduler.services import occurrences as occ
from scheduler.services.events import EventService, decode_cursor, encode_position
from scheduler.status import CANCELLED
from scheduler.store import events as event_store
from scheduler.store import idempotency as idempotency_store
from scheduler.store import series as series_store
from scheduler.store import triggers as trigger_store
from scheduler.store.database import Session
from scheduler.timezones import canonical_zone_name, parse_local_time, to_local

SERIES_SCOPE = "POST /api/series"
#: seconds a rule check may take on its worker thread before the rule is refused
RULE_CHECK_SECONDS = 2.0
#: occurrences shown with a series
NEXT_SHOWN = 5
#: series extended per transaction batch by the periodic job
EXTEND_BATCH = 100


@dataclass(frozen=True)
class SeriesView:
    series: Series
    upcoming: list[Event]
    replayed: bool = False


@dataclass(frozen=True)
class Page:
    items: list[SeriesView]
    next_cursor: str | None


@dataclass(frozen=True)
class _Plan:
    recurrence: Recurrence
    occurrences: list[Occurrence]
    until: datetime


def _fingerprint(data: BaseModel) -> str:
    body = json.dumps(data.model_dump(exclude_unset=True), sort_keys=True, default=str)
    return hashlib.sha256(body.encode()).hexdigest()


def _wall(text: str, field: str) -> datetime:
    try:
        local = parse_local_time(text)
    except InvalidInput as err:
        raise err.for_field(field) from None
    if local.offset is not None:
        raise InvalidInput(
            "give the wall time without a UTC offset: a series runs on its zone's clock",
            field=field,
        )
    return local.wall


def pause_covering(pauses: Sequence[SeriesPause], day: date) -> SeriesPause | None:
    for pause in pauses:
        if pause.start_date <= day <= pause.end_date:
            return pause
    return None


def _day_keys(items: Sequence[tuple[Any, date]]) -> dict[tuple[date, int], Any]:
    """Items by (local date, n-th on that date): how a re-planned occurrence finds
    the one it replaces."""
    seen: dict[date, int] = defaultdict(int)
    keyed = {}
    for item, day in items:
        keyed[(day, seen[day])] = item
        seen[day] += 1
    return keyed


class SeriesService:
    """Series use cases over the events' database and change publisher."""

    def __init__(self, events: EventService) -> None:
        self.events = events
        self.db = events.db
        self.settings: Settings = events.settings
        self.clock = events.clock
        self.changes = events.changes
        self.horizon = timedelta(days=self.settings.series_horizon_days)

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

    # --- the rule ----------------------------------------------------------------------

    async def _plan(self, zone: str, start: datetime, end: datetime, rule: str) -> _Plan:
        """Read and check the rule (off the loop), and its occurrences up to the horizon."""
        recurrence = read_rule(rule, zone=zone, first_wall=start, first_end=end)
        if recurrence.duration <= timedelta(0):
            raise InvalidTimeRange(
                f"end ({end:%Y-%m-%dT%H:%M}) must be after start ({start:%Y-%m-%dT%H:%M})",
                field="end",
            )
        first = first_instant(zone, start)
        until = max(first, self.clock()) + self.horizon
        settings = self.settings

        def check() -> list[Occurrence]:
            found = check_yields(recurrence)
            if found.recurrence_id != first:
                raise InvalidInput(
                    f"{start:%Y-%m-%dT%H:%M} is not an occurrence of the rule {rule!r}: the "
                    f"first one is {found.start_local:%Y-%m-%dT%H:%M}; start the series there "
                    "(calendar apps disagree on a start the rule does not yield)",
                    field="start",
                )
            return check_limits(
                recurrence,
                until=until,
                max_occurrences=settings.series_max_occurrences,
                horizon_days=settings.series_horizon_days,
            )

        try:
            found = await asyncio.wait_for(asyncio.to_thread(check), RULE_CHECK_SECONDS)
        except TimeoutError:
            raise InvalidRule(
                f"{recurrence.text!r} found no occurrence in {RULE_CHECK_SECONDS:g} s of "
                "searching: a rule that can never match (such as BYMONTH=2;BYMONTHDAY=30) "
                "yields no occurrence"
            ) from None
        return _Plan(recurrence, found, until)

    # --- writing ---------------------------------------------------------------------

    async def create(self, data: SeriesCreate, *, idempotency_key: str | None = None) -> SeriesView:
        """Store a series with its occurrences up to the horizon, all or nothing."""
        try:
            zone = canonical_zone_name(data.timezone)
        except InvalidInput as err:
            raise err.for_field("timezone") from None
        start, end = _wall(data.start, "start"), _wall(data.end, "end")
        fingerprint = _fingerprint(data)
        if idempotency_key is not None:
            replay = await self._replay(idempotency_key, fingerprint)
            if replay is not None:
                return replay
        plan = await self._plan(zone, start, end, data.rrule)
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
            status=ACTIVE,
            sequence=0,
            materialized_until=plan.until,
            created_at=now,
            updated_at=now,
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
                await self._add(session, series, plan.occurrences, [], now, outcome)
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
        plan = None
        if {"timezone", "start", "end", "rrule"} & fields.keys():
            try:
                zone = canonical_zone_name(fields.get("timezone", current.timezone))
            except InvalidInput as err:
                raise err.for_field("timezone") from None
            start = _wall(fields["start"], "start") if "start" in fields else current.start_local
            end = _wall(fields["end"], "end") if "end" in fields else current.end_local
            plan = await self._plan(zone, start, end, fields.get("rrule", current.rrule))
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
            if "reminders" in fields:
                series.reminders = (
                    fields["reminders"]
                    if fields["reminders"] is not None
                    else list(self.settings.default_reminders)
                )
            if plan is not None:
                series.timezone = plan.recurrence.zone
                series.start_local = plan.recurrence.first_wall
                series.end_local = (
                    _wall(fields["end"], "end") if "end" in fields else series.end_local
                )
                series.rrule = plan.recurrence.text
            if _series_fields(series) == before:
                return await self._view(session, series)
            series.sequence += 1
            series.updated_at = now
            if plan is None:
                plan = _Plan(
                    self._recurrence_of(series),
                    [],
                    max(first_instant(series.timezone, series.start_local), now) + self.horizon,
                )
                plan = _Plan(
                    plan.recurrence,
                    plan.recurrence.between(
                        None, plan.until, limit=self.settings.series_max_occurrences
                    ),
                    plan.until,
                )
            await self._replan(session, series, plan, old_zone, now, outcome)
            await self.record_changes(session, series.id, outcome)
            view = await self._view(session, series)
        await self.publish_changes(series.id, outcome)
        return view

    def _recurrence_of(self, series: Series) -> Recurrence:
        return read_rule(
            series.rrule,
            zone=series.timezone,
            first_wall=series.start_local,
            first_end=series.end_local,
        )

    async def _replan(
        self,
        session: Session,
        series: Series,
        plan: _Plan,
        old_zone: str,
        now: datetime,
        outcome: occ.Outcome,
    ) -> None:
        """Bring the future occurrences in line with the series (see module doc)."""
        rows = await series_store.occurrences(session, series.id)
        future = [
            r
            for r in rows
            if r.recurrence_id is not None
            and r.recurrence_id > now
            # one a rule change or the series' cancel left behind is history
            and not (r.status == CANCELLED and not r.exception and r.pause_id is None)
        ]
        old = _day_keys([(r, to_local(old_zone, r.recurrence_id).date()) for r in future])
        wanted = [o for o in plan.occurrences if o.recurrence_id > now]
        new = _day_keys([(o, to_local(series.timezone, o.recurrence_id).date()) for o in wanted])
        pairs = [(old[key], o) for key, o in new.items() if key in old]
        paired = {id(row) for row, _ in pairs}
        moving = [row for row, o in pairs if row.recurrence_id != o.recurrence_id]
        for row in moving:  # two steps: a new id may be another row's old one
            row.recurrence_id = None
        if moving:
            await session.flush()
        for row, o in pairs:
            if row.exception or row.actual_start is not None:
                row.recurrence_id = o.recurrence_id  # kept as it is, on its date's instance
            else:
                await occ.follow(
                    session, row, occ.target_values(series, o), now=now, outcome=outcome
                )
        dropped = [r for r in future if id(r) not in paired and not r.exception]
        announced = await trigger_store.announced(session, [r.id for r in dropped])
        for row in dropped:
            if row.status == CANCELLED:
                continue
            if row.id in announced:
                await occ.cancel(session, row, now=now, outcome=outcome)
            else:
                await event_store.remove(session, row.id)
                outcome.add(ChangeKind.DELETED, None, row.id, row.channel)
        added = [o for key, o in new.items() if key not in old]
        pauses = await series_store.pauses(session, series.id)
        await self._add(session, series, added, pauses, now, outcome)
        series.materialized_until = plan.until

    async def _add(
        self,
        session: Session,
        series: Series,
        found: Sequence[Occurrence],
        pauses: Sequence[SeriesPause],
        now: datetime,
        outcome: occ.Outcome,
    ) -> None:
        events, triggers = [], []
        for o in found:
            pause = pause_covering(pauses, o.start_local.date())
            paused = (pause.id, pause.reason or "paused") if pause else None
            event, planned = occ.new_row(series, o, now=now, paused=paused)
            events.append(event)
            triggers.extend(planned)
        stored = await series_store.insert_occurrences(session, events, triggers)
        for event in events:
            if event.id in stored:
                outcome.add(ChangeKind.CREATED, event, event.id, event.channel)

    async def cancel(self, series_id: str, *, if_match: str | None = None) -> SeriesView:
        """Cancel every future occurrence; the series stops."""
        now = self.clock()
        outcome = occ.Outcome()
        async with self.db.session() as session:
            series = await series_store.require(session, series_id, for_update=True)
            check_if_match(if_match, series, what="series")
            if series.status == SERIES_CANCELLED:
                return await self._view(session, series)
            for row in await series_store.occurrences(session, series.id):
                if row.start_utc > now and row.actual_start is None:
                    await occ.cancel(session, row, now=now, outcome=outcome)
            series.status = SERIES_CANCELLED
            series.sequence += 1
            series.updated_at = now
            await self.record_changes(session, series.id, outcome)
            view = await self._view(session, series)
        await self.publish_changes(series.id, outcome)
        return view

    async def delete(self, series_id: str, *, if_match: str | None = None) -> None:
        """Delete the series and every occurrence (as a deleted event each)."""
        outcome = occ.Outcome()
        async with self.db.session() as session:
            series = await series_store.require(session, series_id, for_update=True)
            check_if_match(if_match, series, what="series")
            for row in await series_store.occurrences(session, series.id):
                outcome.add(ChangeKind.DELETED, None, row.id, row.channel)
            await series_store.remove(session, series.id)
            await self.record_changes(session, series.id, outcome)
        await self.publish_changes(series_id, outcome)

    # --- as time passes ----------------------------------------------------------------

    async def extend_due(self) -> int:
        """Extend every active series whose occurrences stop short of the horizon;
        the number of occurrences added. Safe with several replicas at once."""
        added = 0
        done: set[str] = set()
        while True:
            before = self.clock() + self.horizon
            async with self.db.session() as session:
                due = await series_store.due_for_extension(
                    session, before=before, limit=EXTEND_BATCH
                )
            due = [d for d in due if d not in done]
            if not due:
                return added
            for series_id in due:
                done.add(series_id)
                added += await self.extend(series_id)

    async def extend(self, series_id: str) -> int:
        now = self.clock()
        outcome = occ.Outcome()
        async with self.db.session() as session:
            series = await series_store.get(session, series_id, for_update=True)
            if series is None or series.status != ACTIVE:
                return 0
            until = max(first_instant(series.timezone, series.start_local), now) + self.horizon
            if series.materialized_until >= until:
                return 0
            found = self._recurrence_of(series).between(
                series.materialized_until, until, limit=self.settings.series_max_occurrences
            )
            pauses = await series_store.pauses(session, series.id)
            await self._add(session, series, found, pauses, now, outcome)
            await series_store.mark_materialized(session, series.id, until)
            await self.record_changes(session, series.id, outcome)
        await self.publish_changes(series_id, outcome)
        return len(outcome.changes)

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
        series.timezone,
        series.start_local,
        series.end_local,
        series.rrule,
    )
