"""Helpers shared by the end-to-end tests: settings for fast webhook tests, wall
times a few seconds ahead, and the API calls most tests start with."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import text

from scheduler.config import Settings
from scheduler.store.database import Database
from scheduler.timezones import to_local
from tests.conftest import AUTH, empty_database, make_settings
from tests.processes import Server, env_for
from tests.receiver import Receiver

Client = TestClient[Any, Any]
ZONE = "Europe/Brussels"


def fast_settings(tmp_path: Path, database_url: str, **overrides: Any) -> Settings:
    """Settings for tests that deliver webhooks on the real clock: receivers on
    loopback allowed, retries after 1 s, a 1 s timeout, a refill every second."""
    values: dict[str, Any] = {
        "allow_private_webhook_targets": True,
        "webhook_retry_schedule": (1, 1, 1),
        "webhook_timeout_seconds": 1.0,
        "scheduler_refill_seconds": 1,
    }
    values.update(overrides)
    return make_settings(tmp_path, database_url, **values)


def local_in(seconds: float) -> str:
    """Brussels wall time ``seconds`` from now, to the second."""
    at = datetime.now(UTC) + timedelta(seconds=seconds)
    return to_local(ZONE, at).strftime("%Y-%m-%dT%H:%M:%S")


def wall(at: datetime) -> str:
    """The Brussels wall time of ``at``, to the millisecond, without an offset."""
    return to_local(ZONE, at).isoformat(timespec="milliseconds").split("+")[0]


async def subscribe(client: Client, receiver: Receiver, **fields: Any) -> dict[str, Any]:
    resp = await client.post("/api/webhooks", json={"url": receiver.url, **fields}, headers=AUTH)
    assert resp.status == 201, await resp.text()
    sub: dict[str, Any] = await resp.json()
    assert sub["secret"].startswith("whsec_")
    receiver.secrets.append(sub["secret"])
    return sub


async def create_event(client: Client, **fields: Any) -> dict[str, Any]:
    body = {"title": "EP webstream", "timezone": ZONE, "reminders": [], **fields}
    resp = await client.post("/api/events", json=body, headers=AUTH)
    assert resp.status == 201, await resp.text()
    event: dict[str, Any] = await resp.json()
    return event


async def settled_delivery(client: Client, sub_id: str, timeout: float = 3.0) -> dict[str, Any]:
    """The newest delivery once its last attempt is recorded: the receiver sees a
    request before the service has written down the answer it got."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        log = await (await client.get(f"/api/webhooks/{sub_id}/deliveries", headers=AUTH)).json()
        delivery: dict[str, Any] = log["items"][0]
        if delivery["state"] != "delivering" or asyncio.get_running_loop().time() > deadline:
            return delivery
        await asyncio.sleep(0.05)


async def settled_triggers(client: Client, event_id: str, timeout: float = 3.0) -> dict[str, str]:
    """The event's trigger states once none is claimed: a trigger prepared ahead is
    recorded as fired just after its messages went out, not before."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        shown = await (await client.get(f"/api/events/{event_id}")).json()
        states: dict[str, str] = {t["type"]: t["state"] for t in shown["triggers"]}
        if "claimed" not in states.values() or asyncio.get_running_loop().time() > deadline:
            return states
        await asyncio.sleep(0.05)


async def claimed_message(url: str, event_id: str, *, timeout: float = 10) -> tuple[str, str]:
    """Wait until the event's ``event.started`` message is prepared (its delivery
    written, claimed by a dispatcher); returns its ``webhook-id`` and its owner."""
    db = Database(url)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            async with db.session() as session:
                row = (
                    await session.execute(
                        text(
                            "SELECT id, claimed_by FROM deliveries "
                            "WHERE event_id = :e AND type = 'event.started'"
                        ),
                        {"e": event_id},
                    )
                ).first()
            if row is not None and row.claimed_by:
                return str(row.id), str(row.claimed_by)
            await asyncio.sleep(0.05)
        raise AssertionError("the started message was never prepared")
    finally:
        await db.dispose()


async def two_replicas(tmp_path: Path, url: str, **env: str) -> list[Server]:
    """``replica-a`` and ``replica-b`` serving one emptied PostgreSQL database,
    allowed to call receivers on loopback; ``env`` adds settings."""
    await empty_database(url)
    servers = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        settings = env_for(
            tmp_path / name,
            SCHEDULER_DATABASE_URL=url,
            SCHEDULER_REPLICA_ID=f"replica-{name}",
            SCHEDULER_ALLOW_PRIVATE_WEBHOOK_TARGETS="true",
            **env,
        )
        servers.append(await asyncio.to_thread(Server, tmp_path / name, settings))
    return servers
