"""Changes made outside the dispatching process reach its prepared messages at once.

A real server subprocess (or two replicas) and the real CLI as other writers;
one receiver in the test process verifies every signature. A message is
prepared ``dispatch_lookahead_seconds / 2`` before its instant (here 3 s, so
the CLI, which takes most of a second to start, commits well before the start);
a change committed by another process must take it back within 200 ms.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.conftest import AUTH, empty_database
from tests.helpers import claimed_message, two_replicas, wall
from tests.processes import CLI, Server, env_for
from tests.receiver import Receiver

pytestmark = pytest.mark.slow

LOOKAHEAD = 6  # prepared 3 s before the instant


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def server_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        (tmp_path / "data").mkdir()
        yield f"sqlite+aiosqlite:///{tmp_path / 'data' / 'scheduler.db'}"
        return
    url: str = request.getfixturevalue("postgres_url")
    await empty_database(url)
    yield url


def server_env(tmp_path: Path, url: str, **extra: str) -> dict[str, str]:
    return env_for(
        tmp_path,
        SCHEDULER_DATABASE_URL=url,
        SCHEDULER_ALLOW_PRIVATE_WEBHOOK_TARGETS="true",
        SCHEDULER_DISPATCH_LOOKAHEAD_SECONDS=str(LOOKAHEAD),
        **extra,
    )


async def call(
    session: aiohttp.ClientSession, server: Server, method: str, path: str, body: Any = None
) -> Any:
    url = f"http://127.0.0.1:{server.port}{path}"
    async with session.request(method, url, json=body, headers=AUTH) as resp:
        assert resp.status < 300, await resp.text()
        return await resp.json() if resp.status != 204 else None


async def event_starting(session: aiohttp.ClientSession, server: Server, at: datetime) -> Any:
    return await call(
        session,
        server,
        "POST",
        "/api/events",
        {
            "title": "changed elsewhere",
            "timezone": "Europe/Brussels",
            "start": wall(at),
            "end": wall(at + timedelta(hours=1)),
            "reminders": [],
        },
    )


async def test_a_cancel_through_the_cli_takes_back_the_prepared_start(
    tmp_path: Path, server_url: str, receiver: Receiver
) -> None:
    env = server_env(tmp_path, server_url)
    server = await asyncio.to_thread(Server, tmp_path, env)
    try:
        async with aiohttp.ClientSession() as session:
            sub = await call(
                session,
                server,
                "POST",
                "/api/webhooks",
                {"url": receiver.url, "types": ["event.started", "event.cancelled"]},
            )
            receiver.secrets.append(sub["secret"])
            start = datetime.now(UTC) + timedelta(seconds=5)
            event = await event_starting(session, server, start)
        await claimed_message(server_url, event["id"])
        cli = await asyncio.to_thread(
            subprocess.run,
            [*CLI, "events", "cancel", event["id"]],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
        )
        committed = datetime.now(UTC)  # the CLI's commit came before it exited
        assert cli.returncode == 0, cli.stderr
        assert committed < start - timedelta(seconds=0.25), "the CLI was too slow to test this"
        await receiver.wait_for(1, type_="event.cancelled", timeout=10)
        cancelled = receiver.of_type("event.cancelled")[0]
        print(f"event.cancelled {(cancelled.received_at - committed).total_seconds():.3f} s after")
        assert cancelled.verified
        assert cancelled.received_at - committed < timedelta(seconds=1)
        await asyncio.sleep(max(0.0, (start - datetime.now(UTC)).total_seconds()) + 1.0)
        assert receiver.of_type("event.started") == [], "a cancelled event was announced started"
    finally:
        server.stop()


async def test_a_change_through_the_cli_rearms_the_timers(
    tmp_path: Path, server_url: str, receiver: Receiver
) -> None:
    """An event the CLI adds (after the server has looked at its horizon) still
    fires on time: the CLI's write wakes the server, not its next refill."""
    env = server_env(tmp_path, server_url, SCHEDULER_SCHEDULER_REFILL_SECONDS="60")
    server = await asyncio.to_thread(Server, tmp_path, env)
    try:
        async with aiohttp.ClientSession() as session:
            sub = await call(
                session,
                server,
                "POST",
                "/api/webhooks",
                {"url": receiver.url, "types": ["event.started"]},
            )
            receiver.secrets.append(sub["secret"])
        await asyncio.sleep(0.5)  # the server's start-up refill is over
        start = datetime.now(UTC) + timedelta(seconds=4)
        cli = await asyncio.to_thread(
            subprocess.run,
            [
                *CLI,
                "events",
                "add",
                "--title",
                "added by an operator",
                "--timezone",
                "Europe/Brussels",
                "--start",
                wall(start),
                "--end",
                wall(start + timedelta(hours=1)),
                "--reminders",
                "",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert cli.returncode == 0, cli.stderr
        await receiver.wait_for(1, type_="event.started", timeout=10)
        got = receiver.of_type("event.started")[0]
        print(f"event.started {got.lateness():.3f} s late")
        assert got.lateness() < 0.5
    finally:
        server.stop()


async def test_an_event_the_cli_adds_is_in_the_servers_feed_and_status_at_once(
    tmp_path: Path, server_url: str
) -> None:
    """The CLI's create (written by the same group-committing writer) reaches the
    running server: its cached feed is forgotten and its status view holds the event."""
    env = server_env(tmp_path, server_url)
    server = await asyncio.to_thread(Server, tmp_path, env)
    try:
        async with aiohttp.ClientSession() as session:
            base = f"http://127.0.0.1:{server.port}"
            async with session.get(f"{base}/calendar.ics") as resp:
                assert "added by an operator" not in await resp.text()  # cached now
            start = datetime.now(UTC) + timedelta(minutes=30)
            cli = await asyncio.to_thread(
                subprocess.run,
                [
                    *CLI,
                    "events",
                    "add",
                    "--title",
                    "added by an operator",
                    "--timezone",
                    "Europe/Brussels",
                    "--start",
                    wall(start),
                    "--end",
                    wall(start + timedelta(hours=1)),
                ],
                env=env,
                capture_output=True,
                text=True,
                timeout=30,
            )
            assert cli.returncode == 0, cli.stderr
            event_id = json.loads(cli.stdout)["id"]
            deadline = asyncio.get_running_loop().time() + 2
            while True:
                async with session.get(f"{base}/calendar.ics") as resp:
                    feed = await resp.text()
                async with session.get(f"{base}/api/events/{event_id}/status") as resp:
                    status = resp.status, await resp.json()
                if "added by an operator" in feed and status[0] == 200:
                    break
                assert asyncio.get_running_loop().time() < deadline, (feed[-300:], status)
                await asyncio.sleep(0.05)
            assert status[1]["state"] == "upcoming"
    finally:
        server.stop()


@pytest.mark.postgres
async def test_a_webhook_deleted_through_another_replica_gets_nothing_prepared_for_it(
    tmp_path: Path, postgres_url: str, receiver: Receiver
) -> None:
    servers = await two_replicas(
        tmp_path, postgres_url, SCHEDULER_DISPATCH_LOOKAHEAD_SECONDS=str(LOOKAHEAD)
    )
    try:
        async with aiohttp.ClientSession() as session:
            sub = await call(
                session,
                servers[0],
                "POST",
                "/api/webhooks",
                {"url": receiver.url, "types": ["event.started"]},
            )
            start = datetime.now(UTC) + timedelta(seconds=5)
            event = await event_starting(session, servers[0], start)
            _, owner = await claimed_message(postgres_url, event["id"])
            other = servers[1] if owner == "replica-a" else servers[0]
            await call(session, other, "DELETE", f"/api/webhooks/{sub['id']}")
        await asyncio.sleep(max(0.0, (start - datetime.now(UTC)).total_seconds()) + 1.0)
        assert receiver.received == [], f"a deleted webhook got {len(receiver.received)} messages"
    finally:
        for server in servers:
            server.stop()


@pytest.mark.postgres
async def test_a_webhook_moved_through_another_replica_gets_its_messages_at_the_new_url(
    tmp_path: Path, postgres_url: str, receiver: Receiver
) -> None:
    moved = Receiver()
    await moved.start()
    servers = await two_replicas(
        tmp_path, postgres_url, SCHEDULER_DISPATCH_LOOKAHEAD_SECONDS=str(LOOKAHEAD)
    )
    try:
        async with aiohttp.ClientSession() as session:
            sub = await call(
                session,
                servers[0],
                "POST",
                "/api/webhooks",
                {"url": receiver.url, "types": ["event.started"]},
            )
            moved.secrets.append(sub["secret"])
            start = datetime.now(UTC) + timedelta(seconds=5)
            event = await event_starting(session, servers[0], start)
            _, owner = await claimed_message(postgres_url, event["id"])
            other = servers[1] if owner == "replica-a" else servers[0]
            await call(session, other, "PATCH", f"/api/webhooks/{sub['id']}", {"url": moved.url})
        await moved.wait_for(1, type_="event.started", timeout=10)
        assert moved.received[0].verified
        assert receiver.received == [], "the old URL still got the prepared message"
    finally:
        await moved.stop()
        for server in servers:
            server.stop()


async def test_kept_event_pages_show_a_cancel_made_through_the_cli(
    tmp_path: Path, server_url: str
) -> None:
    """The list page and the event's page are kept as bytes; a cancel committed by
    another process (the CLI) reaches them through the change routing."""
    env = server_env(tmp_path, server_url)
    server = await asyncio.to_thread(Server, tmp_path, env)
    try:
        async with aiohttp.ClientSession() as session:
            start = datetime.now(UTC) + timedelta(days=1)
            event = await event_starting(session, server, start)
            base = f"http://127.0.0.1:{server.port}"
            for _ in range(2):  # built, then kept
                async with session.get(f"{base}/api/events") as resp:
                    etag = resp.headers["ETag"]
                    assert (await resp.json())["items"][0]["status"] == "scheduled"
                async with session.get(f"{base}/api/events/{event['id']}") as resp:
                    assert (await resp.json())["status"] == "scheduled"
            cli = await asyncio.to_thread(
                subprocess.run,
                [*CLI, "events", "cancel", event["id"]],
                env=env,
                capture_output=True,
                text=True,
                timeout=30,
            )
            assert cli.returncode == 0, cli.stderr
            deadline = asyncio.get_running_loop().time() + 2
            while True:
                async with session.get(
                    f"{base}/api/events", headers={"If-None-Match": etag}
                ) as resp:
                    if resp.status == 200:
                        assert (await resp.json())["items"][0]["status"] == "cancelled"
                        break
                assert asyncio.get_running_loop().time() < deadline, "the page stayed as kept"
                await asyncio.sleep(0.05)
            async with session.get(f"{base}/api/events/{event['id']}") as resp:
                assert (await resp.json())["status"] == "cancelled"
    finally:
        server.stop()
