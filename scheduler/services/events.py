"""The event service: create, change, cancel, delete and list events.

It turns validated API input into rows: resolves wall times to UTC instants
(``scheduler.timezones``), bumps ``sequence`` on every change a calendar must
see, and tells listeners (feed caches, the reminder dispatcher) after each
committed change. New events are stored by ``services.creations``, which
commits concurrent creates together and remembers ``Idempotency-Key``s in the
same transaction as the event they created. The HTTP layer and the CLI both go
through it.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from scheduler.config import Settings
from scheduler.etags import check_if_match
from scheduler.exceptions import (
    Conflict,
    InvalidInput,
    StoreBusy,
)
from scheduler.models import (
    Event,
    EventCreate,
    EventType,
    EventUpdate,
    Trigger,
    TriggerState,
    new_id,
)
from scheduler.models.changes import Change, ChangeKind
from scheduler.reminders.planning import SCHEDULED_TYPES, plan_schedule, trigger_id
from scheduler.services.creations import Created, Creations, fingerprint
from scheduler.services.occurrences import cancelled_trigger_id
from scheduler.services.publishing import ChangePublisher
from scheduler.status import CANCELLED, SCHEDULED
from scheduler.store import events as event_store
from scheduler.store import triggers as trigger_store
from scheduler.store.changes import this_process
from scheduler.store.database import Database, Session
from scheduler.store.events import EventFilter
from scheduler.store.rows import built
from scheduler.timezones import (
    Clock,
    EventTimes,
    LocalTime,
    canonical_zone_name,
    parse_local_time,
    resolve_event_times,
    to_local,
)

logger = logging.getLogger(__name__)

DELETE_ATTEMPTS = 3

#: Columns whose change a calendar must see (they raise ``sequence``).
VISIBLE_FIELDS = (
    "title",
    "description",
    "stream_url",
    "location",
    "channel",
    "timezone",
    "start_local",
    "end_local",
    "start_utc",
    "end_utc",
    "reminders",
    "tags",
    "status",
    "actual_start",
    "actual_end",
)


#: what listeners hear after a commit (``scheduler.models.changes``)
EventChange = Change


Listener = Callable[[EventChange], Awaitable[None]]


@dataclass(frozen=True)
class Page:
    items: Sequence[Event]
    next_cursor: str | None


def encode_cursor(event: Event) -> str:
    return encode_position(event.start_utc, event.id)


def encode_position(at: datetime, row_id: str) -> str:
    """A keyset position ``(instant, id)`` as an opaque cursor."""
    raw = json.dumps([at.isoformat(), row_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


MAX_CURSOR = 200  # characters; ours are about 90


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The keyset position in a cursor this server handed out; anything else is a 422."""
    refused = InvalidInput(
        "cursor is not one this server handed out; use next_cursor from the previous page",
        field="cursor",
    )
    if len(cursor) > MAX_CURSOR:
        raise refused
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        decoded = json.loads(base64.urlsafe_b64decode(padded))
        if not (isinstance(decoded, list) and len(decoded) == 2):
            raise refused
        start_text, event_id = decoded
        if not isinstance(start_text, str) or not isinstance(event_id, str):
            raise refused
        start = datetime.fromisoformat(start_text)
        if start.utcoffset() != timedelta(0):
            raise refused  # ours are UTC; a naive or shifted one was made by hand
        return start, event_id
    except InvalidInput:
        raise refused from None
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError, RecursionError) as err:
        raise refused from err


def _parse(text: str, field: str) -> LocalTime:
    try:
        return parse_local_time(text)
    except InvalidInput as err:
        raise err.for_field(field) from None


def _snapshot(event: Event) -> dict[str, Any]:
    return {name: getattr(event, name) for name in VISIBLE_FIELDS}


class EventService:
    """Event use cases over one :class:`Database`."""

    def __init__(
        self, db: Database, settings: Settings, clock: Clock, *, origin: str | None = None
    ) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        self.changes = ChangePublisher(origin or this_process(settings.replica_id))
        self.creations = Creations(
            db,
            self.changes,
            clock,
            idempotency_ttl=timedelta(hours=settings.idempotency_ttl_hours),
            pool_size=settings.database_pool_size,
        )

    @property
    def origin(self) -> str:
        return self.changes.origin

    def subscribe(self, listener: Listener) -> None:
        """Call ``listener`` after every committed change."""
        self.changes.subscribe(listener)

    async def get(self, event_id: str) -> Event:
        async with self.db.session() as session:
            event = await event_store.require(session, event_id)
        return event

    async def list_page(
        self, filters: EventFilter, *, cursor: str | None = None, limit: int | None = None
    ) -> Page:
        size = self.settings.page_size_default if limit is None else limit
        if not 1 <= size <= self.settings.page_size_max:
            raise InvalidInput(
                f"limit must be between 1 and {self.settings.page_size_max}", field="limit"
            )
        after = decode_cursor(cursor) if cursor else None
        async with self.db.session() as session:
            rows = await event_store.list_page(
                session, filters, now=self.clock(), after=after, limit=size + 1
            )
        items = list(rows[:size])
        next_cursor = encode_cursor(items[-1]) if len(rows) > size else None
        return Page(items, next_cursor)

    async def create(
        self,
        data: EventCreate,
        *,
        idempotency_key: str | None = None,
        imported_as: tuple[str, str] | None = None,
    ) -> Created:
        """Store a new event (through the group-committing writer, ``creations``).

        With an ``idempotency_key`` seen before (within the TTL) and the same
        body, the event created then is returned (``replayed``) and nothing new
        is stored. ``imported_as`` is the (source, key) an import finds it by.
        """
        times = resolve_event_times(
            data.timezone, _parse(data.start, "start"), _parse(data.end, "end")
        )
        reminders = (
            data.reminders if data.reminders is not None else list(self.settings.default_reminders)
        )
        now = self.clock()
        event = built(
            Event,
            {
                "id": new_id(),
                "title": data.title,
                "description": data.description,
                "stream_url": data.stream_url,
                "location": data.location,
                "channel": data.channel,
                "reminders": reminders,
                "tags": data.tags or [],
                "status": SCHEDULED,
                "actual_start": None,
                "actual_end": None,
                "cancelled_at": None,
                "previous_start_utc": None,
                "sequence": 0,
                "created_at": now,
                "updated_at": now,
                "import_source": imported_as[0] if imported_as else None,
                "import_key": imported_as[1] if imported_as else None,
                "series_id": None,
                "recurrence_id": None,
                "exception": False,
                "cancel_reason": None,
                "pause_id": None,
                **_time_columns(times),
            },
        )
        if idempotency_key is None:
            return await self.creations.create(event)
        return await self.creations.create(
            event, idempotency_key=idempotency_key, request_fingerprint=fingerprint(data)
        )

    async def close(self) -> None:
        """Wait for creates under way; refuse new ones (the server is stopping)."""
        await self.creations.close()

    async def update(
        self, event_id: str, data: EventUpdate, *, if_match: str | None = None
    ) -> Event:
        fields = data.model_dump(exclude_unset=True)
        for required in ("title", "timezone", "start", "end"):
            if required in fields and fields[required] is None:
                raise InvalidInput(f"{required} cannot be removed", field=required)
        async with self.db.session() as session:
            event = await event_store.require(session, event_id, for_update=True)
            check_if_match(if_match, event, what="event")
            if event.status == CANCELLED:
                raise Conflict("this event is cancelled and can no longer change")
            before = _snapshot(event)
            if {"timezone", "start", "end"} & fields.keys():
                times = self._moved_times(event, fields)
                for name, value in _time_columns(times).items():
                    setattr(event, name, value)
            for name in ("title", "description", "stream_url", "location", "channel"):
                if name in fields:
                    setattr(event, name, fields[name])
            if "tags" in fields:
                tags = fields["tags"] or []
                if event.series_id is not None and tags != event.tags:
                    # a feed holds a series as one master: its tags are the series'
                    raise InvalidInput(
                        "an occurrence's tags are its series'; change them with "
                        f"PATCH /api/series/{event.series_id}",
                        field="tags",
                    )
                event.tags = tags
            if "reminders" in fields:
                event.reminders = (
                    fields["reminders"]
                    if fields["reminders"] is not None
                    else list(self.settings.default_reminders)
                )
            after = _snapshot(event)
            changed = after != before
            if changed:
                now = self.clock()
                await trigger_store.release_prepared(session, now=now, event_id=event.id)
                if event.series_id is not None:
                    event.exception = True  # changes to its series leave it as it is
                event.sequence += 1
                event.updated_at = now
                if before["start_utc"] != after["start_utc"]:
                    event.previous_start_utc = before["start_utc"]
                event_store.save(session, event)
                if any(before[k] != after[k] for k in ("start_utc", "end_utc", "reminders")):
                    await self._replan(session, event)
                moved = any(before[k] != after[k] for k in ("start_utc", "end_utc"))
                await trigger_store.add_immediate(
                    session,
                    trigger_id=trigger_id(event.id, EventType.UPDATED, sequence=event.sequence),
                    event_id=event.id,
                    type_=EventType.UPDATED,
                    now=now,
                    # chat messages say "was moved to ..." rather than "was changed"
                    detail={"moved": True} if moved else None,
                )
                await self.changes.record(session, ChangeKind.UPDATED, event.id)
        if changed:
            await self.changes.publish(
                EventChange(ChangeKind.UPDATED, event.id, event, event.channel)
            )
        return event

    async def _replan(self, session: Session, event: Event) -> None:
        """Bring the event's reminder/start/end triggers in line with its times."""
        plan = plan_schedule(
            event_id=event.id,
            start_utc=event.start_utc,
            end_utc=event.end_utc,
            reminders=list(event.reminders),
            now=self.clock(),
        )
        await trigger_store.replan(session, event.id, plan)

    async def triggers_for(self, event_ids: Sequence[str]) -> dict[str, list[Trigger]]:
        """Each event's triggers, in due order, for the API representation."""
        async with self.db.session() as session:
            rows = await trigger_store.for_events(session, event_ids)
        grouped: dict[str, list[Trigger]] = {event_id: [] for event_id in event_ids}
        for row in rows:
            grouped[row.event_id].append(row)
        return grouped

    def _moved_times(self, event: Event, fields: dict[str, Any]) -> EventTimes:
        zone = fields.get("timezone", event.timezone)
        try:
            same_zone = canonical_zone_name(zone) == event.timezone
        except InvalidInput:
            same_zone = False  # resolve_event_times refuses it, naming the field

        def kept(local: datetime, instant: datetime) -> LocalTime:
            # In the same zone the stored instant settles a fall-back time as before;
            # in a new zone the wall time as entered is read afresh.
            offset = to_local(event.timezone, instant).utcoffset() if same_zone else None
            return LocalTime(local, offset)

        start = (
            _parse(fields["start"], "start")
            if "start" in fields
            else kept(event.start_local, event.start_utc)
        )
        end = (
            _parse(fields["end"], "end")
            if "end" in fields
            else kept(event.end_local, event.end_utc)
        )
        return resolve_event_times(zone, start, end)

    async def cancel(self, event_id: str, *, if_match: str | None = None) -> Event:
        async with self.db.session() as session:
            event = await event_store.require(session, event_id, for_update=True)
            check_if_match(if_match, event, what="event")
            if event.status == CANCELLED:
                return event
            now = self.clock()
            await trigger_store.release_prepared(session, now=now, event_id=event.id)
            event.status = CANCELLED
            event.cancelled_at = now
            event.updated_at = now
            event.sequence += 1
            if event.series_id is not None:
                event.exception = True  # cancelled on its own: an override in feeds
            event_store.save(session, event)
            await trigger_store.settle_pending(
                session, event.id, TriggerState.CANCELLED, SCHEDULED_TYPES
            )
            await trigger_store.add_immediate(
                session,
                trigger_id=(
                    cancelled_trigger_id(event)
                    if event.series_id is not None
                    else trigger_id(event.id, EventType.CANCELLED)
                ),
                event_id=event.id,
                type_=EventType.CANCELLED,
                now=now,
            )
            await self.changes.record(session, ChangeKind.CANCELLED, event.id)
        await self.changes.publish(
            EventChange(ChangeKind.CANCELLED, event.id, event, event.channel)
        )
        return event

    async def mark_started(self, event_id: str, *, if_match: str | None = None) -> Event:
        """The operator says the stream went live (perhaps early or late)."""
        return await self._mark(event_id, started=True, if_match=if_match)

    async def mark_ended(self, event_id: str, *, if_match: str | None = None) -> Event:
        """The operator says the stream is over (perhaps early, or after an overrun)."""
        return await self._mark(event_id, started=False, if_match=if_match)

    async def _mark(self, event_id: str, *, started: bool, if_match: str | None) -> Event:
        async with self.db.session() as session:
            event = await event_store.require(session, event_id, for_update=True)
            check_if_match(if_match, event, what="event")
            if event.status == CANCELLED:
                raise Conflict("this event is cancelled; it cannot go live or end")
            if event.actual_end is not None:
                if started:
                    raise Conflict("this stream was already marked ended")
                return event  # ending twice changes nothing
            if started and event.actual_start is not None:
                return event  # starting twice changes nothing
            now = self.clock()
            await trigger_store.release_prepared(session, now=now, event_id=event.id)
            if started:
                event.actual_start = now
                await trigger_store.fire_now(
                    session, trigger_id(event.id, EventType.STARTED), now=now
                )
            else:
                event.actual_end = now
                await trigger_store.fire_now(
                    session, trigger_id(event.id, EventType.ENDED), now=now
                )
                # whatever had not gone out by now never will: the stream is over
                await trigger_store.settle_pending(
                    session,
                    event.id,
                    TriggerState.SUPERSEDED,
                    [EventType.REMINDER, EventType.STARTED],
                )
            event.sequence += 1
            event.updated_at = now
            event_store.save(session, event)
            kind = ChangeKind.STARTED if started else ChangeKind.ENDED
            await self.changes.record(session, kind, event.id)
        await self.changes.publish(EventChange(kind, event.id, event, event.channel))
        return event

    async def delete(self, event_id: str, *, if_match: str | None = None) -> None:
        for attempt in range(DELETE_ATTEMPTS):
            try:
                async with self.db.session() as session:
                    event = await event_store.require(session, event_id, for_update=True)
                    check_if_match(if_match, event, what="event")
                    if event.series_id is not None:
                        raise Conflict(
                            "this event is an occurrence of a series: cancel it "
                            f"(POST /api/events/{event_id}/cancel) or delete the series"
                        )
                    channel = event.channel
                    await event_store.remove(session, event_id)
                    await self.changes.record(session, ChangeKind.DELETED, event_id)
                break
            except StoreBusy:
                # The cascade to triggers can deadlock with a dispatcher firing one
                # of them (PostgreSQL aborts one side); deleting again is safe.
                if attempt == DELETE_ATTEMPTS - 1:
                    raise
        await self.changes.publish(EventChange(ChangeKind.DELETED, event_id, None, channel))


def _time_columns(times: EventTimes) -> dict[str, Any]:
    return {
        "timezone": times.timezone,
        "start_local": times.start_local,
        "end_local": times.end_local,
        "start_utc": times.start_utc,
        "end_utc": times.end_utc,
    }
