"""A SQLite transaction run whole on a thread of its own, for bulk writes.

aiosqlite runs each cursor call on its connection's thread and hands the
result back to the event loop: a transaction of three multi-row INSERTs takes
about fifteen such hops (open a cursor, execute, close it, commit, the pool's
ping and reset), each a switch between two threads and a pass of the GIL,
60 us of CPU on a busy core, where SQLite's own work is a few hundred
microseconds. :class:`SqliteThread` runs a whole transaction with the
synchronous driver on one dedicated thread instead: one hop per transaction,
with the same SQL, types and pragmas (SQLAlchemy's ``pysqlite`` dialect,
whose storage formats ``aiosqlite``'s dialect shares), on the same file.
``Database.write_in_thread`` queues it behind the process's other SQLite
transactions and translates its errors like any session's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection, make_url

T = TypeVar("T")


class SqliteThread:
    """A synchronous engine on the SQLite file of ``url``, used from one thread."""

    def __init__(self, url: str, on_connect: Callable[[Any, Any], None]) -> None:
        sync_url = make_url(url).set(drivername="sqlite+pysqlite")
        # the same settings as the async engine (Database): no values in logs,
        # 30 s busy timeout, the same pragmas on every connection
        self._engine: Engine = create_engine(
            sync_url, hide_parameters=True, connect_args={"timeout": 30}
        )
        event.listen(self._engine, "connect", on_connect)
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="sqlite-writes")

    async def run(self, work: Callable[[Connection], T]) -> T:
        """``work(connection)`` in one transaction, committed unless it raises."""

        def transaction() -> T:
            with self._engine.begin() as connection:
                return work(connection)

        loop = asyncio.get_running_loop()
        # shielded: a cancelled caller leaves the transaction to finish as it would
        return await asyncio.shield(loop.run_in_executor(self._thread, transaction))

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        # sqlite3 connections are closed on the thread that made them
        await loop.run_in_executor(self._thread, self._engine.dispose)
        self._thread.shutdown(wait=True)
