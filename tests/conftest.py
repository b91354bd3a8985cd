"""Real parts for tests: a SQLite file per test, a PostgreSQL database per run, the app.

Store and API tests take the ``database_url`` fixture, which runs each test on
SQLite and, when ``SCHEDULER_TEST_POSTGRES_URL`` names a server, again on
PostgreSQL (one database per test run, emptied before each test).
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import text
from sqlmodel import SQLModel

from scheduler.config import Settings
from scheduler.http.app import create_app
from scheduler.store.database import Database
from tests.receiver import Receiver

TOKEN = "test-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
POSTGRES_ENV = "SCHEDULER_TEST_POSTGRES_URL"


def _admin_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


def _run_in_thread(coro: Coroutine[Any, Any, None]) -> None:
    """Run ``coro`` to completion even when called from inside a running loop."""
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, coro).result()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test run, dropped at the end."""
    base = os.environ.get(POSTGRES_ENV)
    if not base:
        pytest.skip(
            f"PostgreSQL tests need {POSTGRES_ENV} (e.g. postgresql+asyncpg://postgres@127.0.0.1:5432/postgres)"
        )
    name = f"scheduler_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = _admin_dsn(base)

    async def run(sql: str) -> None:
        conn = await asyncpg.connect(admin)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    _run_in_thread(run(f'CREATE DATABASE "{name}"'))
    head, _, _ = base.rpartition("/")
    try:
        yield f"{head}/{name}"
    finally:
        _run_in_thread(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'scheduler.db'}"
        return
    url: str = request.getfixturevalue("postgres_url")
    await empty_database(url)
    yield url


async def empty_database(url: str) -> None:
    """Migrate the run's PostgreSQL database and empty every table."""
    db = Database(url)
    await db.upgrade()
    async with db.engine.begin() as conn:
        tables = ", ".join(t.name for t in SQLModel.metadata.sorted_tables)
        await conn.execute(text(f"TRUNCATE {tables} CASCADE"))
    await db.dispose()


def make_settings(tmp_path: Path, database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": tmp_path,
        "database_url": database_url,
        "api_tokens": (TOKEN,),
        "port": 0,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return make_settings(tmp_path, database_url)


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or datetime(2018, 5, 20, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def client(aiohttp_client: Any, settings: Settings, clock: FakeClock) -> TestClient[Any, Any]:
    app = create_app(settings, clock=clock)
    result: TestClient[Any, Any] = await aiohttp_client(app)
    return result


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """A webhook receiver on 127.0.0.1 that verifies every request it gets."""
    rec = Receiver()
    await rec.start()
    yield rec
    await rec.stop()


BRUSSELS = {
    "title": "Facebook CEO meets the European Parliament",
    "timezone": "Europe/Brussels",
    "start": "2018-05-22T18:15",
    "end": "2018-05-22T19:30",
}
