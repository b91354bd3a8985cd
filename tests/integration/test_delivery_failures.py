"""A receiver cannot wedge the delivery engine, nor hold up other endpoints' retries.

Real receivers on 127.0.0.1 answer with ``Retry-After`` in odd forms, hang
until the timeout, or sit behind a URL with a secret in its query string; the
service runs on its real clock and is asked over HTTP what it recorded.
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from scheduler.http.app import create_app
from tests.conftest import AUTH, make_settings
from tests.helpers import create_event, local_in, settled_delivery, subscribe
from tests.processes import CLI, Server, env_for
from tests.receiver import Receiver

Client = TestClient[Any, Any]
MARGIN = 0.5  # seconds of scheduling slack allowed on a busy 2-core machine


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def http_date(seconds_from_now: float) -> str:
    return format_datetime(datetime.now(UTC) + timedelta(seconds=seconds_from_now), usegmt=True)


# value of Retry-After -> the delay (seconds) the service must wait at least / at most
ODD_FORMS: list[tuple[str, float, float]] = [
    ("\u00b2", 1.0, 1.1),  # a unicode digit: ignored, the schedule decides
    ("-1", 1.0, 1.1),
    ("1e9", 1.0, 1.1),
    ("9" * 30, 1.0, 1.1),
    ("", 1.0, 1.1),
    ("  5  ", 5.0, 5.5),
    ("past", 1.0, 1.1),  # an HTTP date a minute ago
    ("future", 28.0, 31.0),  # an HTTP date 30 s ahead (whole seconds: up to 1 s less)
]


@pytest.mark.parametrize(("form", "at_least", "at_most"), ODD_FORMS)
@pytest.mark.parametrize("status", [429, 503])
async def test_odd_retry_after_is_a_failed_attempt_with_a_next_time(
    app_client: Client,
    receiver: Receiver,
    form: str,
    at_least: float,
    at_most: float,
    status: int,
) -> None:
    value = {"past": http_date(-60), "future": http_date(30)}.get(form, form)
    sub = await subscribe(app_client, receiver, types=["event.started"])
    receiver.answers.append((status, {"Retry-After": value}))

    resp = await app_client.post(f"/api/webhooks/{sub['id']}/ping", headers=AUTH)
    assert resp.status == 200, await resp.text()
    ping = await resp.json()
    assert receiver.received[0].answered == status
    assert ping["state"] == "pending"  # waiting for its retry, not stuck "delivering"
    assert ping["attempts"] == 1
    [attempt] = ping["attempt_log"]
    assert attempt["status"] == status and attempt["error"]
    waits = (instant(ping["next_attempt_at"]) - instant(attempt["started_at"])).total_seconds()
    assert at_least <= waits <= at_most + MARGIN, (value, waits)

    # the endpoint still answers pings normally
    resp = await app_client.post(f"/api/webhooks/{sub['id']}/ping", headers=AUTH)
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["state"] == "succeeded"


async def test_scheduled_delivery_with_unicode_retry_after_is_retried(
    app_client: Client, receiver: Receiver
) -> None:
    """The reminder path (batched senders), not only the inline ping."""
    sub = await subscribe(app_client, receiver, types=["event.started"])
    receiver.answers.append((503, {"Retry-After": "\u00b2"}))
    await create_event(app_client, start=local_in(1), end=local_in(3600))
    await receiver.wait_for(1, timeout=6)
    failed = await settled_delivery(app_client, sub["id"])
    assert failed["state"] == "pending", failed
    assert [a["status"] for a in failed["attempt_log"]] == [503]
    assert failed["next_attempt_at"] is not None

    await receiver.wait_for(2, timeout=1.1 + 2 * MARGIN)
    gap = (receiver.received[1].received_at - receiver.received[0].received_at).total_seconds()
    assert 1.0 <= gap <= 1.1 + MARGIN, gap
    done = await settled_delivery(app_client, sub["id"])
    assert done["state"] == "succeeded"
    assert [a["status"] for a in done["attempt_log"]] == [503, 200]


async def test_a_hanging_receiver_does_not_delay_another_endpoints_retry(
    aiohttp_client: Any, tmp_path: Path, database_url: str
) -> None:
    settings = make_settings(
        tmp_path,
        database_url,
        allow_private_webhook_targets=True,
        webhook_retry_schedule=(1,),
        webhook_timeout_seconds=3.0,
        scheduler_refill_seconds=1,
    )
    client: Client = await aiohttp_client(create_app(settings))
    hanging, good = Receiver(delay=5), Receiver()  # outlives the 3 s timeout
    await hanging.start()
    await good.start()
    try:
        await subscribe(client, hanging, types=["event.started"])
        await subscribe(client, good, types=["event.started"])
        good.answers.append(500)
        await create_event(client, start=local_in(2), end=local_in(3600))
        await good.wait_for(2, timeout=8)
        first, retry = good.received[:2]
        assert first.answered == 500 and retry.answered == 200
        assert 0 <= first.lateness() < 0.1, first.lateness()
        gap = (retry.received_at - first.received_at).total_seconds()
        # the schedule's 1 s plus at most 10 % jitter, not the hanging one's 3 s timeout
        assert 1.0 <= gap <= 1.1 + MARGIN, gap
    finally:
        await hanging.stop()
        await good.stop()


async def test_delivery_logs_carry_no_query_string(
    app_client: Client, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    # every level of our own loggers (aiosqlite's DEBUG lines echo SQL parameters,
    # which is the database helper's business, not what is written here)
    caplog.set_level(logging.DEBUG, logger="scheduler")
    resp = await app_client.post(
        "/api/webhooks",
        json={"url": f"{receiver.url}?token=SECRET-in-query", "types": ["event.started"]},
        headers=AUTH,
    )
    assert resp.status == 201, await resp.text()
    sub = await resp.json()
    receiver.secrets.append(sub["secret"])
    receiver.answers.append(500)  # a failure logs too
    for _ in range(2):
        resp = await app_client.post(f"/api/webhooks/{sub['id']}/ping", headers=AUTH)
        assert resp.status == 200
    assert len(receiver.received) == 2
    delivery_lines = [r.getMessage() for r in caplog.records if "attempt" in r.getMessage()]
    assert any(f"127.0.0.1:{receiver.port}/hook" in line for line in delivery_lines)
    assert "SECRET" not in caplog.text


async def test_second_dispatcher_on_one_sqlite_file_names_the_lock_file(tmp_path: Path) -> None:
    env = env_for(tmp_path)
    first = await asyncio.to_thread(Server, tmp_path, env)
    try:
        second = await asyncio.to_thread(
            subprocess.run,
            [*CLI, "serve", "--port", "0"],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
        )
    finally:
        first.stop()
    assert second.returncode == 2
    database = tmp_path / "data" / "scheduler.db"
    lock = tmp_path / "data" / "scheduler.db.dispatch.lock"
    assert lock.exists()
    assert f"lock file {lock}" in second.stderr
    assert f"({database};" in second.stderr
    assert "stop that process first" in second.stderr
