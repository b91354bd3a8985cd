"""Health tells the truth: refused writes and stuck deliveries make it 503; /metrics token.

Writes are refused the way production sees it: PostgreSQL switched to
read-only (``default_transaction_read_only`` on the database, connections
renewed, as after a fail-over to a standby), and a SQLite server process
that can no longer grow any file (``RLIMIT_FSIZE`` set on the running
process, as a full disk does; root ignores file modes, not this limit).
"""

from __future__ import annotations

import asyncio
import resource
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import text

from scheduler.http.app import create_app
from scheduler.store.database import Database
from tests.conftest import AUTH, BRUSSELS, make_settings
from tests.helpers import subscribe
from tests.processes import Server, env_for, request
from tests.receiver import Receiver

Client = TestClient[Any, Any]


async def wait_status(client: Client, path: str, status: int, timeout: float = 15) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        resp = await client.get(path)
        if resp.status == status:
            return await resp.json()
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{path} still {resp.status}: {await resp.text()}")
        await asyncio.sleep(0.2)


async def test_metrics_open_by_default(client: Client) -> None:
    assert (await client.get("/metrics")).status == 200


async def test_metrics_token_is_required_when_set(
    aiohttp_client: Any, tmp_path: Path, database_url: str
) -> None:
    settings = make_settings(tmp_path, database_url, metrics_token="scrape-me-0123456789")
    client: Client = await aiohttp_client(create_app(settings))
    for headers in (
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": "Basic scrape-me-0123456789"},
        AUTH,  # the API token is not the metrics token
        {"Authorization": "Bearer scrape-me-0123456789\u00b2"},
    ):
        resp = await client.get("/metrics", headers=headers)
        assert resp.status == 401, headers
        assert resp.content_type == "application/problem+json"
        assert "metrics_token" in (await resp.json())["detail"]
    resp = await client.get("/metrics", headers={"Authorization": "Bearer scrape-me-0123456789"})
    assert resp.status == 200
    assert "scheduler_http_requests_total" in await resp.text()


async def _postgres_admin(url: str, sql: str, *args: Any) -> None:
    parts = urlsplit(url.replace("postgresql+asyncpg://", "postgresql://"))
    conn = await asyncpg.connect(parts._replace(path="/postgres").geturl())
    try:
        await conn.execute(sql, *args)
    finally:
        await conn.close()


async def _postgres_read_only(url: str, on: bool) -> None:
    """Switch the database to read-only (or back) and renew every connection to it."""
    name = urlsplit(url).path.lstrip("/")
    setting = (
        "SET default_transaction_read_only = on" if on else "RESET default_transaction_read_only"
    )
    await _postgres_admin(url, f'ALTER DATABASE "{name}" {setting}')
    await _postgres_admin(
        url,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
        name,
    )


@pytest.mark.postgres
async def test_read_only_postgres_makes_readyz_and_status_503(
    aiohttp_client: Any, tmp_path: Path, database_url: str
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only; SQLite has its own test")
    client: Client = await aiohttp_client(create_app(make_settings(tmp_path, database_url)))
    await wait_status(client, "/readyz", 200)
    await _postgres_read_only(database_url, True)
    try:
        await client.get("/readyz")  # the old connections are gone: reconnect
        resp = await client.post("/api/events", json=BRUSSELS, headers=AUTH)
        assert resp.status == 503, await resp.text()
        assert "refuses writes (read-only)" in (await resp.json())["detail"]

        ready = await wait_status(client, "/readyz", 503)
        assert ready["failing"] == ["writes"]
        assert ready["writes"]["last_failure"] == "read-only"
        status = await wait_status(client, "/status", 503)
        assert "writes" in status["failing"]
        assert status["writes"]["ok"] is False
        assert (await client.get("/healthz")).status == 200
    finally:
        await _postgres_read_only(database_url, False)
    # nothing written meanwhile: the health checks' own probe sees writes return
    await wait_status(client, "/readyz", 200)
    status = await wait_status(client, "/status", 200)
    assert status["writes"]["ok"] is True
    resp = await client.post("/api/events", json=BRUSSELS, headers=AUTH)
    assert resp.status == 201


async def test_full_disk_under_sqlite_makes_readyz_and_status_503(tmp_path: Path) -> None:
    server = await asyncio.to_thread(Server, tmp_path, env_for(tmp_path))
    try:
        assert (await asyncio.to_thread(request, server.port, "GET", "/readyz"))[0] == 200
        soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        # the server process can no longer grow any file (its log file included)
        resource.prlimit(server.proc.pid, resource.RLIMIT_FSIZE, (0, hard))
        try:
            status, body = await asyncio.to_thread(
                request, server.port, "POST", "/api/events", BRUSSELS
            )
            assert status == 503, body
            assert "refuses writes" in body["detail"]
            status, ready = await asyncio.to_thread(request, server.port, "GET", "/readyz")
            assert status == 503, ready
            assert ready["failing"] == ["writes"]
            status, health = await asyncio.to_thread(request, server.port, "GET", "/status")
            assert status == 503, health
            assert "writes" in health["failing"]
            assert health["writes"]["last_failure_at"] is not None
        finally:
            resource.prlimit(server.proc.pid, resource.RLIMIT_FSIZE, (soft, hard))
        # space again: the probe write goes through, and so do requests
        status, ready = await asyncio.to_thread(request, server.port, "GET", "/readyz")
        assert status == 200, ready
        status, _ = await asyncio.to_thread(request, server.port, "POST", "/api/events", BRUSSELS)
        assert status == 201
    finally:
        server.stop()


async def test_creates_together_on_a_full_sqlite_disk_answer_503_and_store_nothing(
    tmp_path: Path,
) -> None:
    """Creates waiting together for one transaction each get the 503 a lone create
    gets, and none of them is stored, not even in part."""
    server = await asyncio.to_thread(Server, tmp_path, env_for(tmp_path))
    try:
        status, kept = await asyncio.to_thread(
            request, server.port, "POST", "/api/events", BRUSSELS
        )
        assert status == 201, kept
        soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        resource.prlimit(server.proc.pid, resource.RLIMIT_FSIZE, (0, hard))
        try:
            bodies = [{**BRUSSELS, "title": f"refused {i}"} for i in range(8)]
            answers = await asyncio.gather(
                *(
                    asyncio.to_thread(request, server.port, "POST", "/api/events", body)
                    for body in bodies
                )
            )
            for status, body in answers:
                assert status == 503, body
                assert "refuses writes" in body["detail"]
        finally:
            resource.prlimit(server.proc.pid, resource.RLIMIT_FSIZE, (soft, hard))
        status, listing = await asyncio.to_thread(request, server.port, "GET", "/api/events")
        assert [e["id"] for e in listing["items"]] == [kept["id"]]
    finally:
        server.stop()
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'data' / 'scheduler.db'}")
    try:
        async with db.session() as session:
            rows = (await session.execute(text("SELECT DISTINCT event_id FROM triggers"))).all()
    finally:
        await db.dispose()
    assert [row.event_id for row in rows] == [kept["id"]]


async def test_a_delivery_stuck_under_an_expired_claim_makes_status_503(
    aiohttp_client: Any, tmp_path: Path, database_url: str, receiver: Receiver
) -> None:
    """A replica died holding a claim and nobody took it over: /status names it;
    once a dispatcher takes it over (its next refill), /status is healthy again."""
    settings = make_settings(
        tmp_path, database_url, allow_private_webhook_targets=True, scheduler_refill_seconds=4
    )
    client: Client = await aiohttp_client(create_app(settings))
    sub = await subscribe(client, receiver)
    ping = await (await client.post(f"/api/webhooks/{sub['id']}/ping", headers=AUTH)).json()
    assert ping["state"] == "succeeded"
    await wait_status(client, "/status", 200)

    # what a replica that died mid-attempt leaves behind
    other = Database(database_url)
    try:
        async with other.session() as session:
            await session.execute(
                text(
                    "UPDATE deliveries SET state = 'delivering', claimed_by = 'dead-host:1', "
                    "claim_expires_at = :expired, claim_attempt = claim_attempt + 1 WHERE id = :id"
                ),
                {"expired": datetime.now(UTC) - timedelta(minutes=10), "id": ping["id"]},
            )
    finally:
        await other.dispose()
    resp = await client.get("/status")
    status = await resp.json()
    assert resp.status == 503, status
    assert "deliveries" in status["failing"]
    assert status["deliveries"]["stuck"] == 1
    assert status["deliveries"]["stuck_since"] is not None

    await receiver.wait_for(2, timeout=10)  # taken over and sent again, same id
    assert receiver.received[1].webhook_id == ping["id"]
    status = await wait_status(client, "/status", 200)
    assert status["deliveries"]["stuck"] == 0
