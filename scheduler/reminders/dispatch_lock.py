"""One dispatcher per SQLite file, enforced with a lock file next to it.

SQLite serves one process: a second server on the same file would fire every
trigger twice. The lock is an ``flock`` the kernel drops when the process
dies, so a restart after a crash takes it at once (and, knowing it is the only
dispatcher, takes over the dead process's claims without waiting for leases).
"""

from __future__ import annotations

import fcntl
from pathlib import Path
from typing import IO

from scheduler.exceptions import SchedulerError


class DispatchLocked(SchedulerError):
    """Raised at start when another process already dispatches from this SQLite file."""

    code = "dispatch-locked"


class SqliteDispatchLock:
    def __init__(self, database: Path, owner: str) -> None:
        self.database = database
        self.path = database.with_name(database.name + ".dispatch.lock")
        self.owner = owner
        self._handle: IO[str] | None = None

    def take(self) -> None:
        handle = self.path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise DispatchLocked(
                f"{holder} is already dispatching reminders from this SQLite database "
                f"({self.database}; lock file {self.path}): stop that process first, give "
                "this one its own database file (SCHEDULER_DATABASE_URL), or use PostgreSQL "
                "for several replicas"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(self.owner)
        handle.flush()
        self._handle = handle

    def release(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
