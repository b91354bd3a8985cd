"""The async engine, sessions and schema migrations.

One :class:`Database` per process wraps SQLAlchemy's async engine for either
backend: a SQLite file through aiosqlite (WAL, busy timeout) or PostgreSQL
through asyncpg (a pool). Sessions translate "the database is not there" into
:class:`StoreUnavailable` at this boundary; so is "the database refuses
writes" (disk full, a read-only file or server, revoked privileges), which is
also recorded in :class:`WriteHealth` for ``/status`` and ``/readyz``: a
database that answers reads but refuses every write is not healthy. Bulk
writes on a SQLite file can run a whole transaction on a thread of their own
(:meth:`Database.write_in_thread`, ``store.sqlite_thread``). The schema is
managed by alembic; :meth:`Database.upgrade` applies the migrations shipped in
``scheduler/migrations`` and is what the server runs at start.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event, func, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from scheduler.exceptions import StoreBusy, StoreConflict, StoreUnavailable
from scheduler.store.sqlite_thread import SqliteThread
from scheduler.store.writes import (
    WriteHealth,
    forget_write,
    forget_write_on_checkin,
    note_write,
    write_refusal,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
# Any number; all replicas use it to serialise migrations on PostgreSQL.
MIGRATION_LOCK_ID = 0x6273_6368  # "bsch"

#: the session type services receive from :meth:`Database.session` and hand to the store
Session = AsyncSession
#: a connection in a transaction (:meth:`Database.transaction`), for bulk writes
Transaction = AsyncConnection

_UNAVAILABLE = (OperationalError, InterfaceError, OSError, ConnectionError, TimeoutError)


# PostgreSQL SQLSTATEs of transactions aborted by a conflict: retrying succeeds
RETRYABLE_SQLSTATES = {"40P01", "40001"}  # deadlock_detected, serialization_failure


def _sqlstate(err: BaseException) -> str | None:
    """PostgreSQL's SQLSTATE of a driver error (asyncpg's, under SQLAlchemy's wrapper)."""
    orig = getattr(err, "orig", None)
    state = getattr(orig, "sqlstate", None) or getattr(
        getattr(orig, "__cause__", None), "sqlstate", None
    )
    return state if isinstance(state, str) else None


def _is_conflict(err: BaseException) -> bool:
    return _sqlstate(err) in RETRYABLE_SQLSTATES


#: integrity errors that mean a concurrent change: a key taken, a referred-to row deleted
CLASH_SQLSTATES = {"23505", "23503"}  # unique_violation, foreign_key_violation
CLASH_SQLITE = ("UNIQUE constraint failed", "FOREIGN KEY constraint failed")


def _is_clash(err: BaseException) -> bool:
    """A unique or foreign-key violation (any other violated constraint, such as a
    CHECK an administrator added, is not the request's fault nor a race: it stays
    an internal error)."""
    if not isinstance(err, IntegrityError):
        return False
    return _sqlstate(err) in CLASH_SQLSTATES or str(err.orig).startswith(CLASH_SQLITE)


def _is_unavailable(err: BaseException) -> bool:
    if isinstance(err, _UNAVAILABLE):
        return True
    return isinstance(err, DBAPIError) and bool(err.connection_invalidated)


@asynccontextmanager
async def _translated(writes: WriteHealth | None = None) -> AsyncIterator[None]:
    """Driver errors meaning "no database", "no writes" or "conflict, retry" become
    domain errors; refused writes are recorded in ``writes``."""
    try:
        yield
    except Exception as err:
        if _is_conflict(err):
            raise StoreBusy("the database was busy with a conflicting change; retry") from err
        refused = write_refusal(err)
        if refused is not None:
            if writes is not None:
                writes.refused(refused)
            logger.error(
                "the database refused a write (%s): %s",
                refused,
                type(err).__name__,
                extra={"action": "write", "kind": refused},
            )
            raise StoreUnavailable(f"the database refuses writes ({refused}); see /status") from err
        if _is_unavailable(err):
            raise StoreUnavailable(f"the database is unavailable: {type(err).__name__}") from err
        if _is_clash(err):
            # a constraint the request could not know of: another request took the
            # key, or deleted a row this one refers to, in the meantime
            raise StoreConflict(
                "the change clashes with a change made at the same time; reload and retry"
            ) from err
        raise


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _private_file(path: Path) -> None:
    """Create the SQLite file readable by its owner only (it holds webhook secrets).

    SQLite gives its -wal and -shm files the mode of the database file, so
    they follow. A file made by an older version is tightened too.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
    for candidate in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        if candidate.exists() and candidate.stat().st_mode & 0o077:
            candidate.chmod(0o600)


def _alembic_config(connection: Connection) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


class Database:
    """The engine and session factory for one database URL."""

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        # hide_parameters: a failing statement's traceback must not print its
        # values (webhook secrets, titles) into the log.
        kwargs: dict[str, Any] = {"pool_pre_ping": True, "hide_parameters": True}
        path = url.split(":///", 1)[1] if ":///" in url else ""
        if self.is_sqlite:
            if path and path != ":memory:":
                _private_file(Path(path))
            kwargs["connect_args"] = {"timeout": 30}
        else:
            kwargs.update(pool_size=pool_size, max_overflow=pool_size, pool_timeout=10)
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(self.engine.sync_engine, "after_cursor_execute", note_write)
        event.listen(self.engine.sync_engine, "rollback", forget_write)
        # a connection goes back to the pool without the mark of a write that did
        # not commit (a failed commit fires no rollback event): the next session
        # on it would record a success it never had
        event.listen(self.engine.sync_engine.pool, "checkin", forget_write_on_checkin)
        self.writes = WriteHealth()
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        # SQLite lets one writer in at a time and makes the others sleep in its
        # busy handler (1, 2, 5, 10 ... 100 ms steps): under a burst that sleep,
        # not the work, made reminders late. Queueing transactions here instead
        # hands the file over the moment it is free.
        self._sqlite_turn = asyncio.Lock() if self.is_sqlite else None
        self._sqlite_file = self.is_sqlite and path not in ("", ":memory:")
        self._sqlite_thread: SqliteThread | None = None

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session in a transaction: committed on success, rolled back on error.

        Sessions do not nest: on SQLite a session opened inside another waits forever.
        """
        async with _translated(self.writes), self._turn(), self._sessions() as session:
            async with session.begin():
                yield session
                await session.flush()  # so that its writes are seen below
                wrote = (await session.connection()).info.pop("wrote", False)
            if wrote:
                self.writes.committed()

    @asynccontextmanager
    async def transaction(self, *, autocommit: bool = False) -> AsyncIterator[AsyncConnection]:
        """A connection for bulk writes that need no unit of work (``store.creations``):
        in a transaction, committed on success and rolled back on error, or with
        ``autocommit`` each statement on its own (one statement that writes
        everything needs no BEGIN and COMMIT round trips). The same error
        translation, queueing and write health as :meth:`session`, without the ORM
        session's bookkeeping (a third of a small transaction's cost)."""
        async with _translated(self.writes), self._turn(), self.engine.connect() as connection:
            if autocommit:
                await connection.execution_options(isolation_level="AUTOCOMMIT")
                yield connection
            else:
                async with connection.begin():
                    yield connection
        self.writes.committed()  # all it is used for is writing

    async def write_in_thread(self, work: Callable[[Connection], T]) -> T:
        """``work(connection)`` in one transaction with the synchronous driver, for
        bulk writes on a SQLite file: the whole transaction is one hop to a thread
        of its own (``store.sqlite_thread``), queued behind this process's other
        transactions, its errors translated as a session's. Elsewhere (an
        in-memory database) it runs on the async engine."""
        async with _translated(self.writes), self._turn():
            if self._sqlite_file:
                if self._sqlite_thread is None:
                    self._sqlite_thread = SqliteThread(self.url, _sqlite_pragmas)
                result = await self._sqlite_thread.run(work)
            else:
                async with self.engine.begin() as connection:
                    result = await connection.run_sync(work)
        self.writes.committed()
        return result

    @asynccontextmanager
    async def _turn(self) -> AsyncIterator[None]:
        if self._sqlite_turn is None:
            yield
            return
        async with self._sqlite_turn:
            yield

    def sql_now(self, fallback: datetime) -> Any:
        """ "Now" for claims: the server's ``now()`` on PostgreSQL, so that replicas
        with skewed clocks agree; ``fallback`` (this process's clock) on SQLite."""
        return func.now() if self.dialect == "postgresql" else fallback

    async def ping(self) -> None:
        """Run a trivial query; raise :class:`StoreUnavailable` if it fails."""
        async with self.session() as session:
            await session.execute(text("SELECT 1"))

    async def probe_write(self) -> None:
        """Write something harmless (the schema version, unchanged): after refused
        writes, tells whether the database takes writes again."""
        async with self.session() as session:
            await session.execute(text("UPDATE alembic_version SET version_num = version_num"))

    async def upgrade(self) -> None:
        """Apply every pending migration (safe to run from several replicas at once)."""

        def run(connection: Connection) -> None:
            if connection.dialect.name == "postgresql":
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:id)"), {"id": MIGRATION_LOCK_ID}
                )
            command.upgrade(_alembic_config(connection), "head")

        async with _translated(), self.engine.begin() as conn:
            await conn.run_sync(run)

    async def is_current(self) -> bool:
        """True when the schema is at the newest migration this code knows."""

        def check(connection: Connection) -> bool:
            heads = set(ScriptDirectory(str(MIGRATIONS)).get_heads())
            current = set(MigrationContext.configure(connection).get_current_heads())
            return heads == current

        async with _translated(), self.engine.connect() as conn:
            return await conn.run_sync(check)

    async def dispose(self) -> None:
        if self._sqlite_thread is not None:
            await self._sqlite_thread.close()
            self._sqlite_thread = None
        await self.engine.dispose()
