"""Event pages are kept as bytes, and never answer what the events no longer say.

``GET /api/events`` and ``GET /api/events/{id}`` are built once and kept until
a change or the clock can alter them; these tests read them through HTTP, move
the injected clock, and count how often a page was built.
"""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from scheduler.http.keys import PAGES
from tests.conftest import AUTH, FakeClock
from tests.http.test_events_api import create

Client = TestClient[Any, Any]


def builds(client: Client) -> int:
    return client.app[PAGES].builds


async def test_a_list_page_is_built_once_and_revalidated_with_its_etag(client: Client) -> None:
    for day in (22, 23, 24):
        await create(client, start=f"2018-05-{day}T18:15", end=f"2018-05-{day}T19:30")
    first = await client.get("/api/events?limit=2")
    body, etag = await first.read(), first.headers["ETag"]
    built = builds(client)
    again = await client.get("/api/events?limit=2")
    assert await again.read() == body and again.headers["ETag"] == etag
    assert builds(client) == built  # from memory
    unchanged = await client.get("/api/events?limit=2", headers={"If-None-Match": etag})
    assert unchanged.status == 304 and unchanged.headers["ETag"] == etag
    assert await unchanged.read() == b""
    other = await client.get("/api/events?limit=3")  # another question, another page
    assert len((await other.json())["items"]) == 3


async def test_a_change_is_seen_at_once_and_the_old_etag_no_longer_matches(
    client: Client,
) -> None:
    event = await create(client)
    listed = await client.get("/api/events")
    etag = listed.headers["ETag"]
    assert (await client.get(f"/api/events/{event['id']}")).status == 200
    resp = await client.patch(f"/api/events/{event['id']}", json={"title": "Renamed"}, headers=AUTH)
    assert resp.status == 200
    after = await client.get("/api/events", headers={"If-None-Match": etag})
    assert after.status == 200
    assert (await after.json())["items"][0]["title"] == "Renamed"
    single = await client.get(f"/api/events/{event['id']}")
    assert (await single.json())["title"] == "Renamed"
    assert single.headers["ETag"] == resp.headers["ETag"]  # the row's version, as before
    await client.delete(f"/api/events/{event['id']}", headers=AUTH)
    assert (await client.get(f"/api/events/{event['id']}")).status == 404
    assert (await (await client.get("/api/events")).json())["items"] == []


async def test_the_clock_moves_a_kept_event_to_live_and_ended(
    client: Client, clock: FakeClock
) -> None:
    # 2018-05-20 12:00Z now; starts at 14:00Z, no reminders
    event = await create(client, start="2018-05-20T16:00", end="2018-05-20T17:00", reminders=[])
    path = f"/api/events/{event['id']}"
    states = []
    for step in (0, 7199, 1, 3599, 1):  # up to a second before, at the start, at the end
        clock.advance(seconds=step)
        listed = (await (await client.get("/api/events")).json())["items"][0]
        single = await (await client.get(path)).json()
        assert listed["state"] == single["state"]
        states.append(listed["state"])
    assert states == ["upcoming", "upcoming", "live", "live", "ended"]


async def test_a_trigger_that_may_be_claimed_soon_keeps_its_pages_from_being_kept(
    client: Client, clock: FakeClock
) -> None:
    # a reminder 15 minutes before a start 16 minutes away: due in a minute
    event = await create(client, start="2018-05-20T14:16", end="2018-05-20T15:00", reminders=[15])
    path = f"/api/events/{event['id']}"
    await client.get(path)
    built = builds(client)
    await client.get(path)
    await client.get("/api/events")
    await client.get("/api/events")
    assert builds(client) == built + 3  # built afresh every time
    triggers = (await (await client.get(path)).json())["triggers"]
    assert [t["state"] for t in triggers if t["type"] == "event.reminder"] == ["pending"]


async def test_a_list_by_status_is_never_kept(client: Client, clock: FakeClock) -> None:
    await create(client, start="2018-05-20T16:00", end="2018-05-20T17:00", reminders=[])
    before = builds(client)
    for _ in range(3):
        live = await (await client.get("/api/events?status=live")).json()
        assert live["items"] == []
    assert builds(client) == before + 3


async def test_kept_pages_stay_within_their_byte_budget(client: Client) -> None:
    pages = client.app[PAGES].kept
    pages.max_bytes = 8_000  # a page of one event is ~1.6 KB
    for day in range(1, 9):
        await create(client, start=f"2018-06-{day:02d}T18:15", end=f"2018-06-{day:02d}T19:30")
    listed = await (await client.get("/api/events")).json()
    for item in listed["items"]:
        assert (await client.get(f"/api/events/{item['id']}")).status == 200
    assert 0 < pages._bytes <= 8_000
    assert sum(len(a.body) for a in pages._kept.values()) == pages._bytes
