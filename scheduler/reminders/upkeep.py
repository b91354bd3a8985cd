"""Keeping this process's claims honest: renewing, giving back, taking over.

A claim is a promise to send: it is renewed only for the work this process
still does (prepared messages, messages with the senders), given back when
the process stops, and checked again when changes may have been missed.
Claims of a process that died are taken over: at start on SQLite (this is the
only dispatcher on the file), within a second on PostgreSQL (the dead
replica's liveness lock is free, ``store.replicas``), otherwise when their
lease expires. Also the periodic housekeeping: expired idempotency keys.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

from scheduler.config import Settings
from scheduler.reminders.prepared import Prepared, PreparedMessages
from scheduler.reminders.sending import Senders
from scheduler.store import claims
from scheduler.store import deliveries as delivery_store
from scheduler.store import idempotency as idempotency_store
from scheduler.store import triggers as trigger_store
from scheduler.store.database import Database
from scheduler.store.replicas import DeadReplicas
from scheduler.timezones import Clock

logger = logging.getLogger(__name__)


class Upkeep:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        clock: Clock,
        *,
        owner: str,
        senders: Senders,
        prepared: PreparedMessages,
        wake: Callable[[], None],
    ) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        self.owner = owner
        self.lease = timedelta(seconds=settings.claim_lease_seconds)
        self.senders = senders
        self.prepared = prepared
        self._wake = wake
        self._dead = DeadReplicas(db, owner)

    async def take_over_previous(self, owners: set[str] | None = None) -> None:
        """At start: claims left by a process that died are ours to take over now,
        not after their lease: all of them on SQLite (this is the only dispatcher on
        the file), those of a predecessor under this ``replica_id`` on PostgreSQL."""
        async with self.db.session() as session:
            triggers = await claims.release_all(session, trigger_store.QUEUE, owners=owners)
            deliveries = await claims.release_all(session, delivery_store.QUEUE, owners=owners)
        if triggers or deliveries:
            logger.warning(
                "took over %d trigger and %d delivery claims left by a previous process",
                triggers,
                deliveries,
                extra={"action": "recover"},
            )

    async def take_over_dead(self) -> None:
        """PostgreSQL: return the claims of replicas that died to waiting, at once."""
        try:
            dead, triggers, deliveries = await self._dead.release()
        except Exception:
            logger.exception("looking for dead replicas failed", extra={"action": "recover"})
            return
        if triggers or deliveries:
            logger.warning(
                "took over %d trigger and %d delivery claims of dead replica(s) %s",
                triggers,
                deliveries,
                ", ".join(sorted(dead)),
                extra={"action": "recover"},
            )
            self._wake()

    async def renew(self) -> None:
        """Extend the leases of everything this process is still working on.

        Deliveries are renewed by id, those prepared or with the senders: a
        claimed delivery this process lost track of must expire and be taken
        over, not stay "delivering" for as long as the process lives.
        """
        try:
            until = self.db.sql_now(self.clock()) + self.lease
            working = self.senders.held() | self.prepared.delivery_ids()
            async with self.db.session() as session:
                await claims.renew(session, trigger_store.QUEUE, owner=self.owner, until=until)
                await claims.renew(
                    session, delivery_store.QUEUE, owner=self.owner, until=until, ids=working
                )
        except Exception:
            logger.exception("renewing leases failed", extra={"action": "renew"})

    async def revalidate(self) -> None:
        """Keep only prepared triggers still claimed by this process under the same
        claim (after missed notifications, a change may have taken some back)."""
        held = self.prepared.held()
        if not held:
            return
        try:
            async with self.db.session() as session:
                still = await claims.still_held(
                    session, trigger_store.QUEUE, owner=self.owner, attempts=held
                )
        except Exception:
            logger.exception("checking prepared triggers failed", extra={"action": "fire"})
            return
        self.prepared.withdraw(lambda p: p.trigger.id in still)

    async def give_back(self, items: list[Prepared]) -> None:
        """Stopping: return prepared, unsent triggers so that any process can
        prepare them at once (instead of after their lease)."""
        if not items:
            return
        try:
            async with self.db.session() as session:
                await trigger_store.release_prepared(
                    session,
                    now=self.clock(),
                    trigger_ids=[p.trigger.id for p in items],
                    owner=self.owner,
                    rearm=False,
                )
        except Exception:
            logger.exception("returning prepared triggers failed", extra={"action": "shutdown"})

    async def housekeeping(self) -> None:
        """Purge idempotency keys past their retention."""
        try:
            older_than = self.clock() - timedelta(hours=self.settings.idempotency_ttl_hours)
            async with self.db.session() as session:
                purged = await idempotency_store.purge(session, older_than=older_than)
            if purged:
                logger.debug("purged %d expired idempotency keys", purged)
        except Exception:
            logger.exception("purging idempotency keys failed", extra={"action": "housekeeping"})
