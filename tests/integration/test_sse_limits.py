"""Limits of the live-status streams: vanished clients are freed, the stream cap, Last-Event-ID.

Issue 11: a stream whose client went away stayed subscribed until its event
next changed (months, for an event months away); nothing bounded the number of
streams; a Last-Event-ID with a non-ASCII digit answered 500. Real server, real
sockets, a short heartbeat so that "within a heartbeat" is a fraction of a second.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from prometheus_client.parser import text_string_to_metric_families

from scheduler.config import Settings
from scheduler.http.app import create_app
from tests.conftest import AUTH, make_settings
from tests.helpers import create_event, local_in
from tests.sse import RawStream, ServeLikeServer, SSEReader

Client = TestClient[Any, Any]
HEARTBEAT = 0.3


@pytest.fixture
def limit_settings(tmp_path: Path, database_url: str) -> Settings:
    return make_settings(
        tmp_path, database_url, sse_heartbeat_seconds=HEARTBEAT, sse_max_streams=50
    )


@pytest.fixture
async def app_client(aiohttp_client: Any, limit_settings: Settings) -> Client:
    client: Client = await aiohttp_client(ServeLikeServer(create_app(limit_settings)))
    return client


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def open_streams(client: Client) -> float:
    """The ``scheduler_sse_clients`` gauge, read the way Prometheus reads it."""
    text = await (await client.get("/metrics")).text()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "scheduler_sse_clients":
                return sample.value
    raise AssertionError("no scheduler_sse_clients in /metrics")


async def wait_open_streams(client: Client, expected: float, within: float) -> float:
    """Poll the gauge until it shows ``expected`` or ``within`` seconds have passed."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        seen = await open_streams(client)
        if seen == expected or loop.time() > deadline:
            return seen
        await asyncio.sleep(0.05)


async def raw(client: Client, path: str, **headers: str) -> RawStream:
    assert client.port is not None
    return await RawStream.open("127.0.0.1", client.port, path, headers=headers)


async def test_vanished_clients_are_freed_within_a_heartbeat(
    app_client: Client, session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    # an event months away: without the fix its dead streams wait for its next change
    event = await create_event(
        app_client, start=local_in(90 * 86400), end=local_in(90 * 86400 + 3600)
    )
    path = f"/api/events/{event['id']}/status/stream"
    kept = await SSEReader.open(session, str(app_client.make_url(path)))
    await kept.next()
    dropped = [await raw(app_client, path) for _ in range(10)]
    dropped += [await raw(app_client, "/api/live/stream") for _ in range(10)]
    assert all(stream.status == 200 for stream in dropped)
    assert await open_streams(app_client) == 21

    for i, stream in enumerate(dropped):
        stream.drop(reset=i % 2 == 0)  # half with RST, half with a bare FIN
    # noticed at the next wake (one heartbeat), with one more for scheduling slack
    assert await wait_open_streams(app_client, 1, within=2 * HEARTBEAT + 0.2) == 1

    # the stream whose client stayed is still served, heartbeats and changes alike
    assert await kept.wait_comment(timeout=2 * HEARTBEAT) == "ping"
    resp = await app_client.post(f"/api/events/{event['id']}/start", headers=AUTH)
    assert resp.status == 200
    assert (await kept.next()).data["state"] == "live"
    kept.close()
    assert await wait_open_streams(app_client, 0, within=2 * HEARTBEAT + 0.2) == 0
    # a client gone is normal life for a stream, not a server error
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_streams_beyond_the_cap_get_503_with_retry_after(
    aiohttp_client: Any, limit_settings: Settings, session: aiohttp.ClientSession
) -> None:
    settings = limit_settings.model_copy(update={"sse_max_streams": 2})
    client: Client = await aiohttp_client(ServeLikeServer(create_app(settings)))
    event = await create_event(client, start=local_in(3600), end=local_in(7200))
    path = f"/api/events/{event['id']}/status/stream"
    first = await raw(client, path)
    second = await raw(client, "/api/live/stream")

    for refused_path in (path, "/api/live/stream"):
        resp = await client.get(refused_path, headers={"Accept": "text/event-stream"})
        assert resp.status == 503
        assert resp.content_type == "application/problem+json"
        assert resp.headers["Retry-After"] == "1"  # the heartbeat (0.3 s), rounded up
        body = await resp.json()
        assert body["status"] == 503 and body["type"] == "/problems/too-many-streams"
        assert "2 live-status streams" in body["detail"] and "retry" in body["detail"]
    # an unknown event is still a 404, not a capacity problem
    assert (await client.get("/api/events/nope/status/stream")).status == 404
    assert await open_streams(client) == 2

    first.drop(reset=True)  # a slot frees once the server notices
    assert await wait_open_streams(client, 1, within=2 * HEARTBEAT + 0.2) == 1
    again = await SSEReader.open(session, str(client.make_url(path)))
    assert (await again.next()).data["state"] == "upcoming"
    again.close()
    second.drop(reset=False)


@pytest.mark.parametrize(
    "number",
    [
        "\u00b2",
        "\u0663",
        "",
        "-1",
        "+1",
        " 1",
        "1.0",
        "1" * 40,
        "99999999999999999999",
        "123456789012",
    ],
)
async def test_malformed_last_event_id_gets_a_fresh_snapshot(
    app_client: Client, session: aiohttp.ClientSession, number: str
) -> None:
    event = await create_event(app_client, start=local_in(3600), end=local_in(7200))
    path = f"/api/events/{event['id']}/status/stream"
    stream = await SSEReader.open(session, str(app_client.make_url(path)))
    first = await stream.next()
    stream.close()
    assert first.id is not None
    boot = first.id.partition("-")[0]

    # on a raw socket: the header goes out exactly as written (UTF-8), as a hostile client sends it
    resumed = await raw(app_client, path, **{"Last-Event-ID": f"{boot}-{number}"})
    try:
        assert resumed.status == 200, resumed.head
        # a fresh snapshot, as if no id had been sent: the state now, and the retry hint
        assert "event: status" in resumed.first and "retry: 2000" in resumed.first
        assert '"state": "upcoming"' in resumed.first
    finally:
        resumed.drop(reset=False)
