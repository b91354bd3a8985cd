"""Live status seen three ways at once: GET .../status, an SSE stream, and webhooks.

Real time throughout: events start a couple of seconds ahead.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from prometheus_client.parser import text_string_to_metric_families

from scheduler.config import Settings
from scheduler.http.app import create_app
from scheduler.http.keys import DISPATCHER
from tests.conftest import AUTH
from tests.helpers import create_event, fast_settings, local_in, subscribe
from tests.receiver import Receiver
from tests.sse import SSEReader

Client = TestClient[Any, Any]


@pytest.fixture
def webhook_settings(tmp_path: Path, database_url: str) -> Settings:
    """The shared settings with a short heartbeat; ``app_client`` serves them."""
    return fast_settings(tmp_path, database_url, sse_heartbeat_seconds=0.5)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def status(client: Client, event_id: str) -> dict[str, Any]:
    resp = await client.get(f"/api/events/{event_id}/status")
    assert resp.status == 200
    body: dict[str, Any] = await resp.json()
    return body


async def test_schedule_walks_upcoming_live_ended(
    app_client: Client, receiver: Receiver, session: aiohttp.ClientSession
) -> None:
    await subscribe(app_client, receiver, types=["event.started", "event.ended"])
    event = await create_event(
        app_client, start=local_in(2), end=local_in(4), stream_url="https://ep.example/live"
    )
    url = str(app_client.make_url(f"/api/events/{event['id']}/status/stream"))
    stream = await SSEReader.open(session, url)
    try:
        first = await stream.next()
        assert first.event == "status" and first.retry == 2000
        assert first.data["state"] == "upcoming"
        now = await status(app_client, event["id"])
        assert now["state"] == "upcoming"
        assert 0 < now["starts_in_seconds"] <= 3
        assert now["stream_url"] == "https://ep.example/live"
        assert now["starts_at"] == event["start_utc"]

        live = await stream.next(timeout=4)
        assert live.data["state"] == "live"
        assert (await status(app_client, event["id"]))["state"] == "live"
        await receiver.wait_for(1, type_="event.started", timeout=2)
        # the push came within a second of the scheduled start
        pushed = _instant(live.data["now"]) - _instant(event["start_utc"])
        assert 0 <= pushed.total_seconds() < 1

        ended = await stream.next(timeout=4)
        assert ended.data["state"] == "ended"
        assert (await status(app_client, event["id"]))["state"] == "ended"
        await receiver.wait_for(1, type_="event.ended", timeout=2)
        # webhooks saw the same event with the same times
        started_hook = receiver.of_type("event.started")[0].body["data"]["event"]
        assert started_hook["id"] == event["id"]
        assert live.id and ended.id and live.id != ended.id
    finally:
        stream.close()


async def test_operator_start_early_overrun_then_end(
    app_client: Client, receiver: Receiver, session: aiohttp.ClientSession
) -> None:
    await subscribe(app_client, receiver, types=["event.started", "event.ended", "event.reminder"])
    event = await create_event(app_client, start=local_in(62), end=local_in(64), reminders=[1])
    url = str(app_client.make_url(f"/api/events/{event['id']}/status/stream"))
    stream = await SSEReader.open(session, url)
    try:
        assert (await stream.next()).data["state"] == "upcoming"
        resp = await app_client.post(f"/api/events/{event['id']}/start", headers=AUTH)
        assert resp.status == 200
        started = await resp.json()
        assert started["state"] == "live" and started["actual_start"] is not None
        assert started["sequence"] == event["sequence"] + 1
        assert (await stream.next()).data["state"] == "live"
        await receiver.wait_for(1, type_="event.started", timeout=3)

        # a second start changes nothing; the reminder is now pointless and never sent
        again = await (
            await app_client.post(f"/api/events/{event['id']}/start", headers=AUTH)
        ).json()
        assert again["actual_start"] == started["actual_start"]

        # move the schedule so the stream is past its scheduled end: it stays live, overrunning
        resp = await app_client.patch(
            f"/api/events/{event['id']}",
            json={"start": local_in(-120), "end": local_in(1)},
            headers=AUTH,
        )
        assert resp.status == 200
        overrun = await stream.next(timeout=4)
        assert overrun.data["state"] == "live" and overrun.data["overrunning"] is True
        now = await status(app_client, event["id"])
        assert now["state"] == "live" and now["overrunning"] is True
        await asyncio.sleep(0.3)
        assert receiver.of_type("event.ended") == []  # not ended while it overruns

        resp = await app_client.post(f"/api/events/{event['id']}/end", headers=AUTH)
        assert resp.status == 200
        assert (await stream.next()).data["state"] == "ended"
        await receiver.wait_for(1, type_="event.ended", timeout=3)
        await asyncio.sleep(0.5)
        assert len(receiver.of_type("event.started")) == 1
        assert len(receiver.of_type("event.ended")) == 1
        assert receiver.of_type("event.reminder") == []
        resp = await app_client.post(f"/api/events/{event['id']}/start", headers=AUTH)
        assert resp.status == 409

        # the feed shows the actual times
        ics = await (await app_client.get(f"/events/{event['id']}.ics")).text()
        assert "X-BROADCAST-ACTUAL-START:" in ics and "X-BROADCAST-ACTUAL-END:" in ics
    finally:
        stream.close()


async def test_cancel_is_pushed_and_final(
    app_client: Client, receiver: Receiver, session: aiohttp.ClientSession
) -> None:
    await subscribe(app_client, receiver, types=["event.cancelled", "event.started"])
    event = await create_event(app_client, start=local_in(2), end=local_in(4))
    stream = await SSEReader.open(session, str(app_client.make_url("/api/live/stream")))
    try:
        snapshot = await stream.next()
        assert snapshot.event == "snapshot" and snapshot.data == {"live": []}
        await app_client.post(f"/api/events/{event['id']}/cancel", headers=AUTH)
        pushed = await stream.next()
        assert pushed.data["id"] == event["id"] and pushed.data["state"] == "cancelled"
        assert (await status(app_client, event["id"]))["state"] == "cancelled"
        await receiver.wait_for(1, type_="event.cancelled", timeout=3)
        await asyncio.sleep(2.5)
        assert receiver.of_type("event.started") == []
        resp = await app_client.post(f"/api/events/{event['id']}/start", headers=AUTH)
        assert resp.status == 409
    finally:
        stream.close()


async def test_live_list_and_status_filter(app_client: Client) -> None:
    on_air = await create_event(app_client, start=local_in(-60), end=local_in(3600))
    later = await create_event(app_client, start=local_in(3600), end=local_in(7200))
    live = await (await app_client.get("/api/live")).json()
    assert [e["id"] for e in live["items"]] == [on_air["id"]]
    upcoming = await (await app_client.get("/api/events", params={"status": "upcoming"})).json()
    assert [e["id"] for e in upcoming["items"]] == [later["id"]]


async def test_reconnect_with_last_event_id_gets_what_it_missed(
    app_client: Client, session: aiohttp.ClientSession
) -> None:
    event = await create_event(app_client, start=local_in(3600), end=local_in(7200))
    url = str(app_client.make_url(f"/api/events/{event['id']}/status/stream"))
    stream = await SSEReader.open(session, url)
    first = await stream.next()
    await app_client.post(f"/api/events/{event['id']}/start", headers=AUTH)
    seen = await stream.next()
    assert seen.data["state"] == "live"
    stream.close()  # the client drops off ...

    await app_client.post(f"/api/events/{event['id']}/end", headers=AUTH)  # ... and misses this

    again = await SSEReader.open(session, url, last_event_id=seen.id)
    try:
        missed = await again.next()
        assert missed.data["state"] == "ended"
        assert missed.id != seen.id
    finally:
        again.close()

    # an id from before a restart (another boot) gets a fresh snapshot instead
    fresh = await SSEReader.open(session, url, last_event_id="0-5")
    try:
        assert (await fresh.next()).data["state"] == "ended"
    finally:
        fresh.close()
    assert first.data["state"] == "upcoming"


async def test_idle_stream_sends_heartbeats(
    app_client: Client, session: aiohttp.ClientSession
) -> None:
    stream = await SSEReader.open(session, str(app_client.make_url("/api/live/stream")))
    try:
        await stream.next()
        assert await stream.wait_comment(timeout=2) == "ping"
    finally:
        stream.close()


async def test_stream_of_unknown_event_is_404(app_client: Client) -> None:
    resp = await app_client.get("/api/events/nope/status/stream")
    assert resp.status == 404
    assert resp.content_type == "application/problem+json"


async def test_status_and_readiness(app_client: Client) -> None:
    resp = await app_client.get("/status")
    assert resp.status == 200
    body = await resp.json()
    assert body["healthy"] is True and body["failing"] == []
    assert body["database"]["ok"] is True and body["database"]["round_trip_ms"] >= 0
    assert body["scheduler"]["running"] is True
    assert {"pending", "oldest_overdue"} <= body["triggers"].keys()
    assert {"pending", "retrying", "dead"} <= body["deliveries"].keys()
    assert (await app_client.get("/readyz")).status == 200
    assert (await app_client.get("/healthz")).status == 200

    await app_client.app[DISPATCHER].stop()
    resp = await app_client.get("/status")
    assert resp.status == 503
    assert (await resp.json())["failing"] == ["scheduler"]


async def test_overdue_triggers_make_status_unhealthy(
    aiohttp_client: Any, webhook_settings: Settings
) -> None:
    settings = webhook_settings.model_copy(update={"status_overdue_seconds": 0.5})
    client: Client = await aiohttp_client(create_app(settings))
    await client.app[DISPATCHER].stop()  # nothing fires
    await create_event(client, start=local_in(1), end=local_in(3600))
    await asyncio.sleep(2.2)
    resp = await client.get("/status")
    body = await resp.json()
    assert resp.status == 503
    assert "triggers" in body["failing"]
    assert body["triggers"]["overdue_seconds"] > 0.5


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


async def test_metrics_move_as_things_happen(app_client: Client, receiver: Receiver) -> None:
    before = _samples(await (await app_client.get("/metrics")).text())
    await subscribe(app_client, receiver, types=["event.started"])
    await create_event(app_client, start=local_in(1), end=local_in(3600))
    await receiver.wait_for(1, timeout=4)
    await app_client.get("/calendar.ics")
    await app_client.get("/calendar.ics")
    await asyncio.sleep(0.2)
    resp = await app_client.get("/metrics")
    assert resp.headers["Content-Type"].startswith("text/plain")
    after = _samples(await resp.text())

    def grew(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0) - before.get(key, 0)

    assert grew("scheduler_triggers_total", type="event.started", outcome="fired") == 1
    assert grew("scheduler_delivery_attempts_total", outcome="success") == 1
    assert grew("scheduler_trigger_lateness_seconds_count") == 1
    assert grew("scheduler_feed_renders_total") == 1
    assert grew("scheduler_feed_cache_hits_total") == 1
    assert (
        grew("scheduler_http_requests_total", method="POST", route="/api/events", status="201") == 1
    )
    assert after[("scheduler_events", (("state", "upcoming"),))] == 0
    assert after[("scheduler_events", (("state", "live"),))] == 1
