"""Creating events: concurrent creates committed together, each answered exactly.

A new event is a handful of rows: the event, the triggers its plan needs, the
notice other processes read and, with an ``Idempotency-Key``, the record that
remembers it. What it costs is the transaction around them, so creates go
through one :class:`~scheduler.services.group_commit.GroupCommit`: the rows of
the creates that arrive together are written in one transaction with a few
bulk statements (``store.creations``), then each new event is published to
this process's listeners, in order, and each request answered.

A new event has no triggers yet, so its plan is inserted as it is, without
reading any first, and handed back with the event: the API answers without a
second read. An ``Idempotency-Key`` keeps its meaning: a key seen before
(within the TTL) with the same body replays the event created then; with
another body it is a 422; of two concurrent requests with one key, the one
whose write clashes (the key taken by the other, in another batch or, written
one at a time after the clash, in the same one) replays the winner's event.

A writer first lets the creates already on their way join its batch (fewer,
fuller transactions; on an idle loop that costs one turn of microseconds).
SQLite runs one transaction at a time, so it has one writer; PostgreSQL runs
them side by side, and a write there mostly waits for the server, so it has
:data:`POSTGRES_WRITERS`, and the loop serves the next requests meanwhile.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from scheduler.exceptions import Conflict, IdempotencyKeyReused, StoreConflict
from scheduler.models import Event, EventCreate, IdempotencyRecord, Trigger
from scheduler.models.changes import Change, ChangeKind
from scheduler.reminders.planning import plan_schedule
from scheduler.services.group_commit import GroupCommit
from scheduler.services.publishing import ChangePublisher
from scheduler.store import creations as creation_store
from scheduler.store import events as event_store
from scheduler.store import idempotency as idempotency_store
from scheduler.store import triggers as trigger_store
from scheduler.store.database import Database
from scheduler.timezones import Clock

CREATE_SCOPE = "POST /api/events"
#: creates per transaction at most: more amortise a commit no further, and one
#: transaction stays a few milliseconds long
MAX_BATCH = 100
#: transactions of creates at a time on PostgreSQL (each holds a pooled connection)
POSTGRES_WRITERS = 3


@dataclass(frozen=True)
class Created:
    """What a create answers: the event, its triggers as stored, and whether it
    was an earlier create replayed for a repeated ``Idempotency-Key``."""

    event: Event
    triggers: list[Trigger]
    replayed: bool = False


@dataclass(frozen=True)
class _NewEvent:
    event: Event
    triggers: list[Trigger]
    remembered: creation_store.Remembered | None  # (record, expired before)


def fingerprint(data: EventCreate) -> str:
    body = json.dumps(data.model_dump(exclude_unset=True), sort_keys=True, default=str)
    return hashlib.sha256(body.encode()).hexdigest()


class Creations:
    """Stores new events, many per transaction."""

    def __init__(
        self,
        db: Database,
        changes: ChangePublisher,
        clock: Clock,
        *,
        idempotency_ttl: timedelta,
        pool_size: int = 10,
    ) -> None:
        self.db = db
        self.changes = changes
        self.clock = clock
        self.idempotency_ttl = idempotency_ttl
        sqlite = db.dialect != "postgresql"
        self._writes = GroupCommit(
            self._write,
            self._publish,
            max_batch=MAX_BATCH,
            writers=1 if sqlite else max(1, min(POSTGRES_WRITERS, pool_size // 2)),
        )

    async def create(
        self, event: Event, *, idempotency_key: str | None = None, request_fingerprint: str = ""
    ) -> Created:
        """Store ``event`` with the triggers its plan needs.

        With an ``idempotency_key`` seen before (within the TTL) and the same
        ``request_fingerprint`` (:func:`fingerprint`), the event created then is
        returned and nothing new is stored; with another one it is a 422.
        """
        now = self.clock()
        plan = plan_schedule(
            event_id=event.id,
            start_utc=event.start_utc,
            end_utc=event.end_utc,
            reminders=list(event.reminders),
            now=now,
        )
        triggers = trigger_store.new_rows(event.id, plan)
        if idempotency_key is None:
            await self._writes.submit(_NewEvent(event, triggers, None))
            return Created(event, triggers)
        expired = now - self.idempotency_ttl
        record = IdempotencyRecord(
            key=idempotency_key,
            scope=CREATE_SCOPE,
            fingerprint=request_fingerprint,
            resource_id=event.id,
            created_at=now,
        )
        for _attempt in range(2):
            replay = await self._replay(idempotency_key, request_fingerprint, expired)
            if replay is not None:
                return replay
            try:
                await self._writes.submit(_NewEvent(event, triggers, (record, expired)))
            except StoreConflict:
                continue  # a concurrent request with the same key won; replay its result
            return Created(event, triggers)
        raise Conflict("a request with this Idempotency-Key is being processed; retry shortly")

    async def close(self) -> None:
        """Refuse new creates; wait until every queued one is stored (or failed)."""
        await self._writes.close()

    async def _replay(self, key: str, fp: str, expired: datetime) -> Created | None:
        async with self.db.session() as session:
            record = await idempotency_store.find(session, key, CREATE_SCOPE, newer_than=expired)
            if record is None:
                return None
            if record.fingerprint != fp:
                raise IdempotencyKeyReused(
                    "this Idempotency-Key was already used with a different request body; "
                    "use a new key for a new event"
                )
            event = await event_store.get(session, record.resource_id)
            triggers = [] if event is None else await trigger_store.for_events(session, [event.id])
        if event is None:
            raise Conflict("the event created with this Idempotency-Key has since been deleted")
        return Created(event, triggers, replayed=True)

    async def _write(self, batch: Sequence[_NewEvent]) -> None:
        await creation_store.write(
            self.db,
            [new.event for new in batch],
            [trigger for new in batch for trigger in new.triggers],
            [new.remembered for new in batch if new.remembered is not None],
            origin=self.changes.origin,
        )

    async def _publish(self, new: _NewEvent) -> None:
        event = new.event
        await self.changes.publish(Change(ChangeKind.CREATED, event.id, event, event.channel))
