"""At the default level the log says what a person cares about, once.

A real server (INFO, text) fires an event's start to two webhooks: one that
answers, one that refuses connections. The success is not worth a line; the
failure is; nothing from the libraries.
"""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import AUTH
from tests.helpers import wall
from tests.processes import Server, env_for, free_port
from tests.receiver import Receiver

pytestmark = pytest.mark.slow


async def test_a_fired_start_logs_its_failure_and_not_its_success(
    tmp_path: Path, receiver: Receiver
) -> None:
    env = env_for(
        tmp_path,
        SCHEDULER_ALLOW_PRIVATE_WEBHOOK_TARGETS="true",
        SCHEDULER_WEBHOOK_RETRY_SCHEDULE="60",
    )
    server = await asyncio.to_thread(Server, tmp_path, env)
    closed = f"http://127.0.0.1:{free_port()}/hook"  # nobody listens there
    try:
        async with aiohttp.ClientSession() as session:
            base = f"http://127.0.0.1:{server.port}"
            for url in (receiver.url, closed):
                async with session.post(
                    f"{base}/api/webhooks",
                    json={"url": url, "types": ["event.started"]},
                    headers=AUTH,
                ) as resp:
                    assert resp.status == 201
            start = datetime.now(UTC) + timedelta(seconds=2)
            async with session.post(
                f"{base}/api/events",
                json={
                    "title": "logged",
                    "timezone": "Europe/Brussels",
                    "start": wall(start),
                    "end": wall(start + timedelta(hours=1)),
                    "reminders": [],
                },
                headers=AUTH,
            ) as resp:
                event = await resp.json()
        await receiver.wait_for(1, type_="event.started", timeout=10)
        await asyncio.sleep(1.0)  # the outcomes are written
    finally:
        await asyncio.to_thread(server.stop)
    lines = server.log.read_text().splitlines()
    ours = [line for line in lines if "scheduler.http.access" not in line]
    text = "\n".join(ours)
    assert not re.search(r"apscheduler|alembic|aiosqlite|sqlalchemy", text, re.I)
    attempts = [line for line in ours if "action=deliver" in line or " attempt " in line]
    assert len(attempts) == 1, attempts  # the failure, once; the success not at all
    assert "connection failed" in attempts[0]
    assert not any(f"trigger {event['id']}" in line for line in ours)  # fired: DEBUG
    assert any("dispatcher started" in line for line in ours)
    assert len(ours) <= 8, ours  # start-up, the failure, shutdown: nothing per second
