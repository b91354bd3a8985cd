"""Carrying committed changes between processes that share a database.

Every writer records its changes in the transaction that makes them
(:func:`record`), the CLI as much as the API, so a change and its notice
commit together or not at all:

- PostgreSQL: ``pg_notify`` inside the transaction (PostgreSQL delivers it at
  commit); every process ``LISTEN``s on a dedicated asyncpg connection
  (:class:`PostgresWatch`), re-opened with backoff when lost.
- SQLite: a row in ``change_log``; the server watches the file for commits by
  other connections with ``PRAGMA data_version`` (a cheap poll every
  ``POLL_SECONDS``) and reads the rows it has not seen (:class:`SqliteWatch`).

A watch hands ``(kind, ref_id)`` pairs from other origins to its callback;
after a gap in which notices may have been lost (a re-opened connection) it
calls ``resync``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import sqlite3
from collections.abc import Callable, Coroutine, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from sqlalchemy import delete, insert, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from scheduler.models.changes import ChangeRecord
from scheduler.store.database import Database

logger = logging.getLogger(__name__)

CHANNEL = "broadcast_scheduler_changes"
NOTIFY_BATCH = 100  # changes per notification; a payload must stay under 8,000 bytes
POLL_SECONDS = 0.1  # SQLite: how often the file is checked for other writers' commits
KEEP_LOG = timedelta(minutes=10)  # SQLite: change_log rows older than this are purged
PURGE_EVERY = 60.0  # seconds
RECONNECT_FIRST = 0.5  # seconds; doubles up to RECONNECT_MAX
RECONNECT_MAX = 10.0

Notice = tuple[str, str]  # (kind, ref_id)
OnChanges = Callable[[list[Notice]], Coroutine[Any, Any, None]]
OnResync = Callable[[], Coroutine[Any, Any, None]]


def this_process(replica_id: str = "") -> str:
    """This process's name as the owner of claims and the origin of changes: the
    configured ``replica_id``, else ``host:pid``."""
    return replica_id or f"{socket.gethostname()}:{os.getpid()}"


def payloads(origin: str, changes: Sequence[Notice]) -> list[str]:
    """The ``NOTIFY`` payloads that carry ``changes`` on PostgreSQL."""
    return [
        json.dumps({"from": origin, "changes": [list(c) for c in changes[i : i + NOTIFY_BATCH]]})
        for i in range(0, len(changes), NOTIFY_BATCH)
    ]


async def record(session: AsyncSession, origin: str, changes: Sequence[Notice]) -> None:
    """Record committed-to-be changes for the other processes, in ``session``'s
    transaction."""
    if not changes:
        return
    if session.bind.dialect.name == "postgresql":  # type: ignore[union-attr]
        for payload in payloads(origin, changes):
            await session.execute(text("SELECT pg_notify(:c, :p)"), {"c": CHANNEL, "p": payload})
        return
    await session.execute(insert(ChangeRecord), log_rows(origin, changes))


def log_rows(origin: str, changes: Sequence[Notice]) -> list[dict[str, Any]]:
    """The ``change_log`` rows that carry ``changes`` on SQLite."""
    now = datetime.now(UTC)
    return [{"origin": origin, "kind": kind, "ref_id": ref, "at": now} for kind, ref in changes]


class PostgresWatch:
    def __init__(self, db: Database, origin: str, on_changes: OnChanges, resync: OnResync) -> None:
        self.db = db
        self.origin = origin
        self._on_changes = on_changes
        self._resync = resync
        self._connection: Any = None

    async def run(self) -> None:
        delay = RECONNECT_FIRST
        first = True
        while True:
            lost = asyncio.Event()
            try:
                url = self.db.engine.url.set(drivername="postgresql")
                dsn = url.render_as_string(hide_password=False)
                self._connection = await asyncpg.connect(dsn, timeout=5)
                self._connection.add_termination_listener(lambda _conn, ev=lost: ev.set())
                await self._connection.add_listener(CHANNEL, self._notified)
                delay = RECONNECT_FIRST
                logger.debug("listening for changes from other processes", extra={"action": "bus"})
                if not first:
                    await self._resync()
                first = False
                while not lost.is_set():
                    # asyncpg notices a dead socket only when it uses it: probe now and then
                    try:
                        await asyncio.wait_for(lost.wait(), 5)
                    except TimeoutError:
                        await asyncio.wait_for(self._connection.execute("SELECT 1"), 5)
            except asyncio.CancelledError:
                await self.close()
                raise
            except Exception as err:
                logger.warning(
                    "change listener connection lost (%s); reconnecting in %.1f s",
                    type(err).__name__,
                    delay,
                    extra={"action": "bus"},
                )
            await self.close()
            await asyncio.sleep(delay)
            delay = min(delay * 2, RECONNECT_MAX)

    async def close(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(Exception):
                await self._connection.close(timeout=2)
            self._connection = None

    def _notified(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        try:
            message = json.loads(payload)
        except ValueError:
            return
        if not isinstance(message, dict) or message.get("from") == self.origin:
            return  # our own change: this process's listeners heard it already
        notices = [(str(k), str(r)) for k, r in message.get("changes", [])]
        asyncio.get_running_loop().create_task(self._on_changes(notices))


class SqliteWatch:
    def __init__(self, db: Database, origin: str, on_changes: OnChanges, resync: OnResync) -> None:
        self.db = db
        self.path = db.url.split(":///", 1)[1]
        self.origin = origin
        self._on_changes = on_changes
        self._resync = resync
        self._connection: sqlite3.Connection | None = None
        self._version: int | None = None
        self._seen = 0
        self._purged_at = 0.0

    def _open(self) -> sqlite3.Connection:
        if self._connection is None:
            # autocommit: each poll sees the latest commit; it only reads (the purge
            # goes through the database's queued writer); polled on the event loop
            self._connection = sqlite3.connect(self.path, isolation_level=None, timeout=1)
            row = self._connection.execute("SELECT max(seq) FROM change_log").fetchone()
            self._seen = int(row[0] or 0)
        return self._connection

    def _poll(self) -> list[Notice] | None:
        """New changes of other origins, or ``None`` when nothing was committed."""
        connection = self._open()
        version = int(connection.execute("PRAGMA data_version").fetchone()[0])
        if version == self._version:
            return None
        self._version = version
        rows = connection.execute(
            "SELECT seq, origin, kind, ref_id FROM change_log WHERE seq > ? ORDER BY seq",
            (self._seen,),
        ).fetchall()
        if rows:
            self._seen = int(rows[-1][0])
        return [(kind, ref) for _seq, origin, kind, ref in rows if origin != self.origin]

    async def _purge(self) -> None:
        """Forget old rows, through the database's own (queued) writer."""
        try:
            async with self.db.session() as session:
                await session.execute(
                    delete(ChangeRecord).where(col(ChangeRecord.at) < datetime.now(UTC) - KEEP_LOG)
                )
        except Exception as err:  # tried again at the next purge; nothing depends on it
            logger.debug("purging change_log failed: %s", err, extra={"action": "bus"})

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        failing = False
        while True:
            try:
                # inline, not in a thread: the poll costs microseconds (the version is
                # read from SQLite's shared memory; the log only when it moved), a
                # thread hop every 100 ms cost prepared messages 2 ms at p99
                notices = self._poll()
                if loop.time() - self._purged_at > PURGE_EVERY:
                    self._purged_at = loop.time()
                    await self._purge()
                if failing:
                    failing = False
                    await self._resync()
                if notices:
                    await self._on_changes(notices)
            except asyncio.CancelledError:
                raise
            except Exception as err:
                if not failing:
                    logger.warning(
                        "watching the database for other writers failed (%s)",
                        err,
                        extra={"action": "bus"},
                    )
                failing = True
                await self.close()
            await asyncio.sleep(POLL_SECONDS)

    async def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
