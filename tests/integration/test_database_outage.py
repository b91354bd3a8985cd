"""The database goes away and comes back: 503s that name it, then recovery, nothing lost.

PostgreSQL is reached through a loopback TCP proxy whose connections the test
cuts, as a crashed or restarting database server would.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import text

from scheduler.http.app import create_app
from scheduler.http.keys import DISPATCHER
from scheduler.store.database import Database
from tests.conftest import AUTH, empty_database, make_settings
from tests.helpers import create_event, local_in, subscribe
from tests.receiver import Receiver
from tests.tcpproxy import TcpProxy

pytestmark = pytest.mark.postgres
Client = TestClient[Any, Any]


@pytest.fixture
async def proxy(postgres_url: str) -> AsyncIterator[TcpProxy]:
    await empty_database(postgres_url)
    parts = urlsplit(postgres_url.replace("postgresql+asyncpg", "postgresql"))
    tcp = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    await tcp.start()
    yield tcp
    await tcp.close()


def through(proxy: TcpProxy, postgres_url: str) -> str:
    parts = urlsplit(postgres_url)
    return postgres_url.replace(parts.netloc.split("@")[-1], f"127.0.0.1:{proxy.port}")


async def wait_status(client: Client, path: str, status: int, timeout: float = 20) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        resp = await client.get(path)
        if resp.status == status:
            return await resp.json()
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{path} still {resp.status}: {await resp.text()}")
        await asyncio.sleep(0.25)


async def test_outage_then_recovery_loses_nothing(
    aiohttp_client: Any, tmp_path: Path, postgres_url: str, proxy: TcpProxy
) -> None:
    settings = make_settings(
        tmp_path,
        through(proxy, postgres_url),
        allow_private_webhook_targets=True,
        webhook_retry_schedule=(1, 1, 1),
        scheduler_refill_seconds=1,
    )
    client: Client = await aiohttp_client(create_app(settings))
    receiver = Receiver()
    await receiver.start()
    try:
        await subscribe(client, receiver, types=["event.started"])
        event = await create_event(client, start=local_in(2), end=local_in(3600))

        await proxy.cut()
        status = await wait_status(client, "/status", 503)
        assert "database" in status["failing"]
        assert status["database"]["ok"] is False
        ready = await wait_status(client, "/readyz", 503)
        assert ready["failing"] == ["database"]
        assert (await client.get("/healthz")).status == 200
        resp = await client.get(f"/api/events/{event['id']}")
        assert resp.status == 503
        assert "database" in (await resp.json())["detail"]
        await asyncio.sleep(2.5)  # the event starts while the database is away

        await proxy.restore()
        await wait_status(client, "/readyz", 200)
        await wait_status(client, "/status", 200)
        await receiver.wait_for(1, timeout=15)  # fired late, not lost
        got = receiver.received[0]
        assert got.body["data"]["event"]["id"] == event["id"]
        assert got.body["data"]["late_by_seconds"] > 0
    finally:
        await receiver.stop()


async def test_start_without_a_database_then_it_arrives(
    aiohttp_client: Any, tmp_path: Path, postgres_url: str, proxy: TcpProxy
) -> None:
    await proxy.cut()
    settings = make_settings(tmp_path, through(proxy, postgres_url))
    client: Client = await aiohttp_client(create_app(settings))  # does not crash
    assert (await client.get("/healthz")).status == 200
    ready = await wait_status(client, "/readyz", 503)
    assert ready["failing"] == ["database"]
    status = await wait_status(client, "/status", 503)
    assert set(status["failing"]) == {"database", "scheduler"}

    await proxy.restore()
    await wait_status(client, "/readyz", 200)
    await wait_status(client, "/status", 200)
    assert client.app[DISPATCHER].running
    resp = await client.post(
        "/api/events",
        json={
            "title": "after",
            "timezone": "UTC",
            "start": "2030-01-01T10:00",
            "end": "2030-01-01T11:00",
        },
        headers=AUTH,
    )
    assert resp.status == 201


async def test_creates_while_the_database_is_away_answer_503_and_store_nothing(
    aiohttp_client: Any, tmp_path: Path, postgres_url: str, proxy: TcpProxy
) -> None:
    """Creates that were waiting together for one transaction each get the 503 a
    lone create gets; none of them is stored, not even in part."""
    client: Client = await aiohttp_client(
        create_app(make_settings(tmp_path, through(proxy, postgres_url)))
    )
    kept = await create_event(client, start="2030-01-01T10:00", end="2030-01-01T11:00")

    await proxy.cut()
    bodies = [
        {
            "title": f"during the outage {i}",
            "timezone": "UTC",
            "start": "2030-01-02T10:00",
            "end": "2030-01-02T11:00",
        }
        for i in range(8)
    ]
    answers = await asyncio.gather(
        *(client.post("/api/events", json=body, headers=AUTH) for body in bodies)
    )
    for resp in answers:
        assert resp.status == 503, await resp.text()
        problem = await resp.json()
        assert "database" in problem["detail"]

    await proxy.restore()
    await wait_status(client, "/readyz", 200)
    listing = await (await client.get("/api/events")).json()
    assert [e["id"] for e in listing["items"]] == [kept["id"]]
    db = Database(postgres_url)
    try:
        async with db.session() as session:
            triggers = (await session.execute(text("SELECT event_id FROM triggers"))).all()
    finally:
        await db.dispose()
    assert {row.event_id for row in triggers} == {kept["id"]}
