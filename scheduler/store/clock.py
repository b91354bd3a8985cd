"""The database's clock, as seen from this process.

Replicas must agree on time: a replica whose own clock is off must neither
fire early nor take over leases that have not expired. On PostgreSQL every
time this process uses is the local clock corrected by the measured offset of
the database server's clock (``clock_timestamp()``), re-measured at every
refill; claims compare with ``now()`` in SQL as well. On SQLite the database
is a file on this machine and the local clock is the database's.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from sqlalchemy import text

from scheduler.store.database import Database
from scheduler.timezones import Clock, system_clock

SYNC_SAMPLES = 5  # round trips per measurement


class DatabaseClock:
    """A :data:`Clock`: ``raw()`` plus the offset of the database server's clock."""

    def __init__(self, raw: Clock = system_clock) -> None:
        self.raw = raw
        self.skew = timedelta(0)
        self._db: Database | None = None

    def attach(self, db: Database) -> None:
        self._db = db

    def __call__(self) -> datetime:
        return self.raw() + self.skew

    async def sync(self) -> None:
        """Measure the database clock's offset (PostgreSQL only).

        NTP-style: a few round trips on one connection, keeping the one with the
        shortest round trip and assuming the server read its clock half-way
        through it, so the error is at most half that round trip (well under a
        millisecond on a local network). Prepared messages are released by this
        estimate, so a noisy one would send them early or late.
        """
        if self._db is None or self._db.dialect != "postgresql":
            return
        query = text("SELECT clock_timestamp()")
        best: tuple[float, timedelta] | None = None
        async with self._db.engine.connect() as conn:
            for _ in range(SYNC_SAMPLES):
                before, began = self.raw(), time.perf_counter()
                db_now: datetime = (await conn.execute(query)).scalar_one()
                rtt = time.perf_counter() - began
                if best is None or rtt < best[0]:
                    best = (rtt, db_now - (before + timedelta(seconds=rtt / 2)))
        if best is not None:
            self.skew = best[1]
