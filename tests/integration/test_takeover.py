"""Messages of a process that died are taken over: promptly, and saying how late they are.

Real server subprocesses, a real receiver in the test process that verifies
every signature. On SQLite a restart takes over the dead process's claims at
once; on PostgreSQL a replica's death is known from its advisory lock, so the
survivor does not wait for the claim lease (60 s by default).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from tests.conftest import AUTH
from tests.helpers import claimed_message, two_replicas, wall
from tests.processes import Server, env_for
from tests.receiver import Receiver

pytestmark = pytest.mark.slow


async def post(session: aiohttp.ClientSession, server: Server, path: str, body: Any) -> Any:
    async with session.post(f"http://127.0.0.1:{server.port}{path}", json=body, headers=AUTH) as r:
        assert r.status in (200, 201), await r.text()
        return await r.json()


async def event_at(session: aiohttp.ClientSession, server: Server, start: datetime) -> Any:
    return await post(
        session,
        server,
        "/api/events",
        {
            "title": "taken over",
            "timezone": "Europe/Brussels",
            "start": wall(start),
            "end": wall(start + timedelta(hours=1)),
            "reminders": [],
        },
    )


async def sleep_until(at: datetime) -> None:
    await asyncio.sleep(max(0.0, (at - datetime.now(UTC)).total_seconds()))


async def test_prepared_message_sent_after_a_restart_says_how_late_it_is(
    tmp_path: Path, receiver: Receiver
) -> None:
    env = env_for(tmp_path, SCHEDULER_ALLOW_PRIVATE_WEBHOOK_TARGETS="true")
    server = await asyncio.to_thread(Server, tmp_path, env)
    try:
        async with aiohttp.ClientSession() as session:
            sub = await post(
                session, server, "/api/webhooks", {"url": receiver.url, "types": ["event.started"]}
            )
            receiver.secrets.append(sub["secret"])
            start = datetime.now(UTC) + timedelta(seconds=2.5)
            event = await event_at(session, server, start)
        # prepared half the lookahead (1 s) before the start; killed before the start
        await sleep_until(start - timedelta(seconds=0.4))
        server.proc.send_signal(signal.SIGKILL)
        server.proc.wait(timeout=10)
        with sqlite3.connect(tmp_path / "data" / "scheduler.db") as db:
            rows = db.execute(
                "SELECT id, payload FROM deliveries WHERE event_id = ?", (event["id"],)
            ).fetchall()
        assert len(rows) == 1, "the message was not prepared before the kill"
        prepared_id, prepared_body = rows[0]
        assert '"late_by_seconds":0' in prepared_body
        assert receiver.received == []

        await sleep_until(start + timedelta(seconds=3))
        server = await asyncio.to_thread(Server, tmp_path, env)
        await receiver.wait_for(1, type_="event.started", timeout=15)
        got = receiver.of_type("event.started")[0]
        late = got.body["data"]["late_by_seconds"]
        print(f"sent {got.lateness():.3f} s late; late_by_seconds {late}")
        assert got.verified
        assert got.webhook_id == prepared_id  # receivers deduplicate on it
        assert late > 1
        assert abs(late - got.lateness()) < 1.0
    finally:
        if server.proc.poll() is None:
            server.stop()


@pytest.mark.postgres
async def test_a_killed_replicas_prepared_message_is_sent_by_another_within_seconds(
    tmp_path: Path, postgres_url: str, receiver: Receiver
) -> None:
    """The claim lease stays at its default (60 s): the survivor knows the owner
    is dead from its advisory lock, not from the lease."""
    servers = await two_replicas(tmp_path, postgres_url)
    try:
        async with aiohttp.ClientSession() as session:
            sub = await post(
                session,
                servers[0],
                "/api/webhooks",
                {"url": receiver.url, "types": ["event.started"]},
            )
            receiver.secrets.append(sub["secret"])
            start = datetime.now(UTC) + timedelta(seconds=3)
            event = await event_at(session, servers[0], start)
        delivery, owner = await claimed_message(postgres_url, event["id"])
        await sleep_until(start - timedelta(seconds=0.4))
        victim = servers[0] if owner == "replica-a" else servers[1]
        victim.proc.send_signal(signal.SIGKILL)
        victim.proc.wait(timeout=10)
        assert receiver.received == []
        await receiver.wait_for(1, type_="event.started", timeout=15)
        got = receiver.of_type("event.started")[0]
        late = got.body["data"]["late_by_seconds"]
        print(f"sent by the survivor {got.lateness():.3f} s late; late_by_seconds {late}")
        assert got.verified
        assert got.webhook_id == delivery
        assert got.lateness() < 5
        assert abs(late - got.lateness()) < 1.0
    finally:
        for server in servers:
            if server.proc.poll() is None:
                server.stop()


@pytest.mark.postgres
async def test_a_killed_replicas_message_in_flight_is_resent_by_another_within_seconds(
    tmp_path: Path, postgres_url: str
) -> None:
    arrivals: list[tuple[str, datetime]] = []
    arrived = asyncio.Event()

    async def hold_first(request: web.Request) -> web.Response:
        arrivals.append((request.headers["webhook-id"], datetime.now(UTC)))
        arrived.set()
        if len(arrivals) == 1:
            await asyncio.sleep(30)  # in flight until its sender dies
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", hold_first)
    runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    servers = await two_replicas(tmp_path, postgres_url, SCHEDULER_WEBHOOK_TIMEOUT_SECONDS="30")
    try:
        async with aiohttp.ClientSession() as session:
            await post(
                session,
                servers[0],
                "/api/webhooks",
                {"url": f"http://127.0.0.1:{port}/hook", "types": ["event.started"]},
            )
            start = datetime.now(UTC) + timedelta(seconds=3)
            event = await event_at(session, servers[0], start)
        delivery, owner = await claimed_message(postgres_url, event["id"])
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(arrived.wait(), 10)
        assert arrivals, "the message never went out"
        victim = servers[0] if owner == "replica-a" else servers[1]
        victim.proc.send_signal(signal.SIGKILL)
        victim.proc.wait(timeout=10)
        killed = datetime.now(UTC)
        arrived.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(arrived.wait(), 15)
        assert len(arrivals) == 2, "the survivor never resent the message"
        resent_id, resent_at = arrivals[1]
        print(f"resent {(resent_at - killed).total_seconds():.3f} s after the kill")
        assert resent_id == delivery == arrivals[0][0]
        assert resent_at - killed < timedelta(seconds=5)
    finally:
        for server in servers:
            if server.proc.poll() is None:
                server.stop()
        await runner.cleanup()
