"""Whether the database takes writes: refused writes recognised and remembered.

A database can answer reads while refusing every write (disk full, a
read-only file or standby server, revoked privileges). The session in
``scheduler.store.database`` classifies each driver error with
:func:`write_refusal` and records refusals and committed writes in a
:class:`WriteHealth`, which ``/status`` and ``/readyz`` read.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Connection

# SQLSTATEs of a server that refuses writes: read-only transaction (a standby, or
# default_transaction_read_only), insufficient resources (class 53: disk full,
# out of memory), I/O error, and missing privileges.
WRITE_REFUSED_SQLSTATES = {"25006": "read-only", "58030": "I/O error", "42501": "no privilege"}
# SQLite result codes (primary, the low byte) of a file that cannot be written
WRITE_REFUSED_SQLITE = {13: "disk full", 8: "read-only", 10: "I/O error", 14: "cannot open"}


def write_refusal(err: BaseException) -> str | None:
    """What kind of write refusal ``err`` is, if it is one."""
    orig = getattr(err, "orig", None)
    for candidate in (orig, getattr(orig, "__cause__", None)):
        if isinstance(candidate, sqlite3.Error):
            code = getattr(candidate, "sqlite_errorcode", None)
            return WRITE_REFUSED_SQLITE.get(code & 0xFF) if isinstance(code, int) else None
        state = getattr(candidate, "sqlstate", None)
        if isinstance(state, str):
            if state.startswith("53"):
                return "disk full" if state == "53100" else "insufficient resources"
            return WRITE_REFUSED_SQLSTATES.get(state)
    return None


@dataclass
class WriteHealth:
    """Whether writes go through: the latest refused write and the latest that committed.

    Recorded by every session (``Database.session``); read by the health checks.
    """

    last_failure_at: datetime | None = None
    last_failure: str | None = None  # its kind: "disk full", "read-only", ...
    last_success_at: datetime | None = None
    failures: int = 0
    _failed: float = float("-inf")  # monotonic times, for ordering
    _succeeded: float = float("-inf")

    @property
    def failing(self) -> bool:
        """A write was refused and none has committed since."""
        return self._failed > self._succeeded

    def refused(self, kind: str) -> None:
        self.failures += 1
        self.last_failure, self.last_failure_at = kind, datetime.now(UTC)
        self._failed = time.monotonic()

    def committed(self) -> None:
        self.last_success_at = datetime.now(UTC)
        self._succeeded = time.monotonic()

    def describe(self) -> dict[str, object]:
        def iso(value: datetime | None) -> str | None:
            return value.isoformat(timespec="seconds").replace("+00:00", "Z") if value else None

        return {
            "ok": not self.failing,
            "last_failure": self.last_failure,
            "last_failure_at": iso(self.last_failure_at),
            "last_success_at": iso(self.last_success_at),
            "failures": self.failures,
        }


def note_write(
    conn: Connection, _cursor: Any, _statement: str, _params: Any, context: Any, _many: bool
) -> None:
    """Mark the connection as having written (the session then records a success)."""
    if context is None:
        return
    # textual SQL (``text("UPDATE ...")``) carries no DML flags: read its verb
    if (
        context.isinsert
        or context.isupdate
        or context.isdelete
        or _statement.lstrip()[:6].upper() in ("INSERT", "UPDATE", "DELETE")
    ):
        conn.info["wrote"] = True


def forget_write(conn: Connection) -> None:
    conn.info.pop("wrote", None)


def forget_write_on_checkin(_dbapi_connection: Any, record: Any) -> None:
    if record is not None:
        record.info.pop("wrote", None)
