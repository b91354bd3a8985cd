"""Kill -9 while triggers are due and deliveries in flight: nothing is lost.

A real server subprocess, a real receiver in the test process. After the
crash the server starts again on the same SQLite file; every trigger is
delivered at least once, and repeats carry the same ``webhook-id``.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp

from scheduler.timezones import to_local
from tests.conftest import AUTH
from tests.processes import CLI, Server, env_for
from tests.receiver import Receiver, same_message

EVENTS = 30


def server_env(tmp_path: Path) -> dict[str, str]:
    return env_for(
        tmp_path,
        SCHEDULER_ALLOW_PRIVATE_WEBHOOK_TARGETS="true",
        SCHEDULER_WEBHOOK_RETRY_SCHEDULE="1,1,1,1,1",
        SCHEDULER_CLAIM_LEASE_SECONDS="5",
        SCHEDULER_WEBHOOK_CONCURRENCY="4",
        SCHEDULER_TRIGGER_GRACE_SECONDS="300",
    )


async def start_server(tmp_path: Path) -> Server:
    return await asyncio.to_thread(Server, tmp_path, server_env(tmp_path))


async def post(session: aiohttp.ClientSession, url: str, body: dict[str, Any]) -> Any:
    async with session.post(url, json=body, headers=AUTH) as resp:
        assert resp.status == 201, await resp.text()
        return await resp.json()


async def test_kill_9_loses_nothing(tmp_path: Path) -> None:
    receiver = Receiver(delay=0.3)  # slow enough that deliveries are in flight at the kill
    await receiver.start()
    server = await start_server(tmp_path)
    try:
        base = f"http://127.0.0.1:{server.port}"
        async with aiohttp.ClientSession() as session:
            sub = await post(
                session, f"{base}/api/webhooks", {"url": receiver.url, "types": ["event.started"]}
            )
            receiver.secrets.append(sub["secret"])
            start = datetime.now(UTC) + timedelta(seconds=3)
            expected = set()
            for i in range(EVENTS):
                at = start + timedelta(milliseconds=50 * i)
                event = await post(
                    session,
                    f"{base}/api/events",
                    {
                        "title": f"stream {i}",
                        "timezone": "Europe/Brussels",
                        "start": to_local("Europe/Brussels", at).isoformat(timespec="seconds"),
                        "end": to_local("Europe/Brussels", at + timedelta(hours=1)).isoformat(
                            timespec="seconds"
                        ),
                        "reminders": [],
                    },
                )
                expected.add(event["id"])

        await receiver.wait_for(3, timeout=10)  # firing has begun, more are in flight
        server.proc.send_signal(signal.SIGKILL)
        server.proc.wait(timeout=10)
        killed_after = len(receiver.received)
        assert killed_after < EVENTS, "the kill came too late to test anything"

        server = await start_server(tmp_path)
        await receiver.wait_for(EVENTS, timeout=30)
        await asyncio.sleep(1.5)  # let stragglers and retries land

        by_id: dict[str, set[str]] = {}
        bodies: dict[str, set[str]] = {}
        for item in receiver.received:
            assert item.verified
            by_id.setdefault(item.webhook_id, set()).add(item.body["data"]["event"]["id"])
            bodies.setdefault(item.webhook_id, set()).add(same_message(item.body))
        delivered = {event_id for ids in by_id.values() for event_id in ids}
        lost = expected - delivered
        repeats = len(receiver.received) - len(by_id)
        print(f"kill -9 after {killed_after} deliveries: {repeats} repeats, {len(lost)} lost")
        assert lost == set()
        assert len(by_id) == EVENTS  # one webhook-id per trigger, however often it came
        assert all(len(ids) == 1 for ids in by_id.values())
        # repeats are the same message; a first attempt sent late after the kill
        # says how late it really is (timestamp, late_by_seconds)
        assert all(len(b) == 1 for b in bodies.values())
    finally:
        if server.proc.poll() is None:
            server.stop()
        await receiver.stop()


async def test_second_process_on_one_sqlite_file_refuses(tmp_path: Path) -> None:
    first = await start_server(tmp_path)
    try:
        second = await asyncio.to_thread(
            subprocess.run,
            [*CLI, "serve", "--port", "0"],
            env=server_env(tmp_path),
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert second.returncode == 2
        assert "already dispatching reminders from this SQLite database" in second.stderr
    finally:
        first.stop()
