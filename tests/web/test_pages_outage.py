"""The database goes away: kept pages are still served, others say so as a page.

PostgreSQL is reached through a loopback TCP proxy whose connections the test
cuts (as ``tests/integration/test_database_outage.py`` does for the API).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from aiohttp.test_utils import TestClient

from scheduler.http.app import create_app
from tests.conftest import empty_database, make_settings
from tests.tcpproxy import TcpProxy
from tests.web.html import Page
from tests.web.test_pages_http import create

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
    netloc = urlsplit(postgres_url).netloc.split("@")[-1]
    return postgres_url.replace(netloc, f"127.0.0.1:{proxy.port}")


async def test_kept_pages_outlive_an_outage_and_the_rest_get_a_503_page(
    aiohttp_client: Any,
    tmp_path: Path,
    postgres_url: str,
    proxy: TcpProxy,
) -> None:
    client: Client = await aiohttp_client(
        create_app(make_settings(tmp_path, through(proxy, postgres_url)))
    )
    kept = await create(client, title="Kept", channel="plenary")
    other = await create(client, title="Not read yet")
    before = await client.get("/")
    assert before.status == 200
    await proxy.cut()
    await asyncio.sleep(0.2)
    still = await client.get("/")  # from memory: no database needed
    assert still.status == 200 and await still.read() == await before.read()
    for path in (f"/events/{other['id']}", "/channels/plenary"):
        resp = await client.get(path)
        assert resp.status == 503, path
        assert resp.headers["Retry-After"] == "5"
        assert resp.content_type == "text/html"
        assert Page(await resp.text()).one("h1").text == "Temporarily unavailable"
    await proxy.restore()
    for _ in range(80):
        resp = await client.get(f"/events/{kept['id']}")
        if resp.status == 200:
            break
        await asyncio.sleep(0.25)
    assert resp.status == 200
    assert Page(await resp.text()).one("h1").text == "Kept"
