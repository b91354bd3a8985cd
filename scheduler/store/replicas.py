"""Replica liveness on PostgreSQL: a dead replica's claims are known at once.

Each dispatching replica holds a session-level advisory lock keyed on its own
id, on a connection of its own, for as long as it lives. The database
releases it the instant that connection dies (a SIGKILL, a crash, a lost
host), so another replica that can take the lock knows its owner is dead and
returns its claims to waiting at once, instead of waiting out their lease (60 s
by default). A live but slow replica keeps its lock and its claims.

Only replicas listed in the ``replicas`` table (each lists itself when it takes
its lock, and removes itself when it stops cleanly) are judged by their lock:
a process that never took one (an older version during a rolling upgrade)
keeps its claims until their lease expires.

A lock must be seen free at two checks ``CONFIRM_SECONDS`` apart (a live replica
whose lock connection dropped re-takes it within a probe). The survivor takes
the dead owner's lock only inside its own transaction
(``pg_try_advisory_xact_lock``), so a replica restarting under the same id
waits for that transaction, then holds its lock again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import asyncpg
from sqlalchemy import text

from scheduler.store import claims
from scheduler.store import deliveries as delivery_store
from scheduler.store import triggers as trigger_store
from scheduler.store.database import Database

logger = logging.getLogger(__name__)

KEY = "broadcast-scheduler replica:"
TAKE_SECONDS = 10.0  # a restart under the same id waits this long for its old lock
PROBE_SECONDS = 1.0  # how often the lock's connection is checked (and re-taken)
#: a listed replica is dead when its lock is free at two checks at least this far
#: apart: a live one whose lock connection dropped takes its lock again within a
#: probe or two, and must not have its claims taken meanwhile
CONFIRM_SECONDS = 2.0


class ReplicaLock:
    """Holds this replica's liveness lock (PostgreSQL only)."""

    def __init__(self, db: Database, owner: str) -> None:
        self.db = db
        self.owner = owner
        self._connection: Any = None
        self._task: asyncio.Task[None] | None = None

    async def take(self) -> None:
        """Take the lock; a process that died under this id may still hold it for
        a moment, a live one holding it is an error (two replicas, one id)."""
        await self._connect(wait=TAKE_SECONDS)
        self._task = asyncio.get_running_loop().create_task(self._keep())

    async def _connect(self, *, wait: float) -> None:
        url = self.db.engine.url.set(drivername="postgresql")
        connection = await asyncpg.connect(url.render_as_string(hide_password=False), timeout=5)
        try:
            deadline = asyncio.get_running_loop().time() + wait
            while True:
                got = await connection.fetchval(
                    "SELECT pg_try_advisory_lock(hashtextextended($1, 0))", KEY + self.owner
                )
                if got:
                    self._connection = connection
                    await self._register()
                    return
                if asyncio.get_running_loop().time() >= deadline:
                    raise RuntimeError(
                        f"another live process dispatches as replica {self.owner!r}: "
                        "give each replica its own SCHEDULER_REPLICA_ID"
                    )
                await asyncio.sleep(0.2)
        except BaseException:
            if self._connection is not connection:
                with contextlib.suppress(Exception):
                    await connection.close(timeout=2)
            raise

    async def _register(self) -> None:
        """List this replica as one whose liveness its lock tells."""
        async with self.db.session() as session:
            await session.execute(
                text(
                    "INSERT INTO replicas (owner, started_at) VALUES (:owner, now()) "
                    "ON CONFLICT (owner) DO UPDATE SET started_at = now()"
                ),
                {"owner": self.owner},
            )

    async def _unregister(self) -> None:
        with contextlib.suppress(Exception):
            async with self.db.session() as session:
                await session.execute(
                    text("DELETE FROM replicas WHERE owner = :owner"), {"owner": self.owner}
                )

    async def _keep(self) -> None:
        """Re-take the lock if its connection is lost (meanwhile other replicas may
        take over this one's claims: a repeat under the same id, not a loss)."""
        while True:
            await asyncio.sleep(PROBE_SECONDS)
            try:
                await asyncio.wait_for(self._connection.execute("SELECT 1"), 5)
                continue
            except asyncio.CancelledError:
                raise
            except Exception as err:
                logger.warning(
                    "lost the replica lock's connection (%s); taking it again",
                    type(err).__name__,
                    extra={"action": "replica"},
                )
            await self._close()
            with contextlib.suppress(Exception):
                await self._connect(wait=0)

    async def _close(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(Exception):
                await self._connection.close(timeout=2)
            self._connection = None

    async def release(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait({self._task}, timeout=5)
            self._task = None
        await self._unregister()  # stopping cleanly: its prepared work was given back
        await self._close()


class DeadReplicas:
    """Finds listed replicas whose lock stays free, and returns their claims."""

    def __init__(self, db: Database, me: str) -> None:
        self.db = db
        self.me = me
        self._free_since: dict[str, float] = {}  # owner -> loop time its lock was first seen free

    async def release(self) -> tuple[set[str], int, int]:
        """Return the claims of replicas dead for sure to waiting, and forget them.
        Returns the dead owners and how many triggers and deliveries came back."""
        now = asyncio.get_running_loop().time()
        async with self.db.session() as session:
            listed = await session.execute(
                text("SELECT owner FROM replicas WHERE owner <> :me ORDER BY owner"),
                {"me": self.me},
            )
            free = set()
            for owner in listed.scalars().all():
                result = await session.execute(
                    text("SELECT pg_try_advisory_xact_lock(hashtextextended(:key, 0))"),
                    {"key": KEY + owner},
                )
                if result.scalar_one():
                    free.add(owner)
            self._free_since = {o: self._free_since.get(o, now) for o in free}
            dead = {o for o, since in self._free_since.items() if now - since >= CONFIRM_SECONDS}
            if not dead:
                return dead, 0, 0
            triggers = await claims.release_all(session, trigger_store.QUEUE, owners=dead)
            deliveries = await claims.release_all(session, delivery_store.QUEUE, owners=dead)
            await session.execute(
                text("DELETE FROM replicas WHERE owner = ANY(:dead)"), {"dead": sorted(dead)}
            )
        for owner in dead:
            self._free_since.pop(owner, None)
        return dead, triggers, deliveries
