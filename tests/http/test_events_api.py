"""The events API through HTTP, on SQLite and on PostgreSQL."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from tests.conftest import AUTH, BRUSSELS, FakeClock

Client = TestClient[Any, Any]


async def create(client: Client, **fields: Any) -> dict[str, Any]:
    resp = await client.post("/api/events", json={**BRUSSELS, **fields}, headers=AUTH)
    assert resp.status == 201, await resp.text()
    body: dict[str, Any] = await resp.json()
    return body


async def test_create_brussels_event(client: Client) -> None:
    resp = await client.post("/api/events", json=BRUSSELS, headers=AUTH)
    assert resp.status == 201
    event = await resp.json()
    assert resp.headers["Location"] == f"/api/events/{event['id']}"
    assert event["start"] == "2018-05-22T18:15:00+02:00"
    assert event["end"] == "2018-05-22T19:30:00+02:00"
    assert event["start_utc"] == "2018-05-22T16:15:00Z"
    assert event["end_utc"] == "2018-05-22T17:30:00Z"
    assert event["timezone"] == "Europe/Brussels"
    assert event["reminders"] == [60, 15]
    assert event["status"] == "scheduled"
    assert event["sequence"] == 0

    again = await (await client.get(f"/api/events/{event['id']}")).json()
    assert again == event


async def test_same_event_in_january_is_plus_one(client: Client) -> None:
    event = await create(client, start="2018-01-22T18:15", end="2018-01-22T19:30")
    assert event["start"] == "2018-01-22T18:15:00+01:00"
    assert event["start_utc"] == "2018-01-22T17:15:00Z"


async def test_ambiguous_time_settled_by_offset(client: Client) -> None:
    event = await create(client, start="2019-10-27T02:30+01:00", end="2019-10-27T04:00")
    assert event["start_utc"] == "2019-10-27T01:30:00Z"
    assert event["start"] == "2019-10-27T02:30:00+01:00"


async def test_optional_fields_and_reminders(client: Client) -> None:
    event = await create(
        client,
        description="Webstream of the meeting",
        stream_url="https://www.europarl.europa.eu/live",
        location="Brussels, Paul-Henri Spaak building",
        channel="plenary",
        reminders=[15, 60, 5, 15],
    )
    assert event["reminders"] == [60, 15, 5]
    assert event["channel"] == "plenary"
    assert event["stream_url"] == "https://www.europarl.europa.eu/live"


async def test_patch_moves_the_event_and_bumps_sequence(client: Client, clock: FakeClock) -> None:
    event = await create(client)
    clock.advance(minutes=5)
    resp = await client.patch(
        f"/api/events/{event['id']}", json={"start": "2018-05-22T18:45"}, headers=AUTH
    )
    assert resp.status == 200, await resp.text()
    moved = await resp.json()
    assert moved["start_utc"] == "2018-05-22T16:45:00Z"
    assert moved["end_utc"] == "2018-05-22T17:30:00Z"
    assert moved["sequence"] == 1
    assert moved["updated_at"] > event["updated_at"]

    # the same value again changes nothing
    same = await (
        await client.patch(
            f"/api/events/{event['id']}", json={"start": "2018-05-22T18:45"}, headers=AUTH
        )
    ).json()
    assert same["sequence"] == 1


async def test_patch_timezone_keeps_wall_times(client: Client) -> None:
    event = await create(client)
    resp = await client.patch(
        f"/api/events/{event['id']}", json={"timezone": "America/New_York"}, headers=AUTH
    )
    moved = await resp.json()
    assert moved["start"] == "2018-05-22T18:15:00-04:00"
    assert moved["start_utc"] == "2018-05-22T22:15:00Z"


async def test_patch_end_keeps_a_fall_back_start(client: Client) -> None:
    event = await create(client, start="2019-10-27T02:30+01:00", end="2019-10-27T04:00")
    resp = await client.patch(
        f"/api/events/{event['id']}", json={"end": "2019-10-27T05:00"}, headers=AUTH
    )
    assert resp.status == 200
    assert (await resp.json())["start_utc"] == "2019-10-27T01:30:00Z"


async def test_patch_rejects_bad_times_and_changes_nothing(client: Client) -> None:
    event = await create(client)
    resp = await client.patch(
        f"/api/events/{event['id']}", json={"end": "2018-05-22T17:00"}, headers=AUTH
    )
    assert resp.status == 422
    problem = await resp.json()
    assert problem["errors"][0]["field"] == "end"
    assert await (await client.get(f"/api/events/{event['id']}")).json() == event

    resp = await client.patch(f"/api/events/{event['id']}", json={"title": None}, headers=AUTH)
    assert resp.status == 422
    assert (await resp.json())["errors"][0]["field"] == "title"


async def test_cancel_then_delete(client: Client) -> None:
    event = await create(client)
    resp = await client.post(f"/api/events/{event['id']}/cancel", headers=AUTH)
    assert resp.status == 200
    cancelled = await resp.json()
    assert cancelled["status"] == "cancelled"
    assert cancelled["state"] == "cancelled"
    assert cancelled["sequence"] == 1
    assert cancelled["cancelled_at"] is not None

    # cancelling twice is harmless; changing a cancelled event is refused
    again = await (await client.post(f"/api/events/{event['id']}/cancel", headers=AUTH)).json()
    assert again["sequence"] == 1
    resp = await client.patch(f"/api/events/{event['id']}", json={"title": "x"}, headers=AUTH)
    assert resp.status == 409

    resp = await client.delete(f"/api/events/{event['id']}", headers=AUTH)
    assert resp.status == 204
    resp = await client.get(f"/api/events/{event['id']}")
    assert resp.status == 404
    assert resp.content_type == "application/problem+json"
    resp = await client.delete(f"/api/events/{event['id']}", headers=AUTH)
    assert resp.status == 404


async def test_list_filters_and_pagination(client: Client, clock: FakeClock) -> None:
    # clock: 2018-05-20T12:00Z
    ids = []
    for day in range(18, 28):
        event = await create(
            client,
            title=f"day {day}",
            start=f"2018-05-{day}T18:15",
            end=f"2018-05-{day}T19:30",
            channel="plenary" if day % 2 else "committee",
        )
        ids.append(event["id"])

    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, str] = {"limit": "3"}
        if cursor:
            params["cursor"] = cursor
        page = await (await client.get("/api/events", params=params)).json()
        seen += [e["id"] for e in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids

    window = await (
        await client.get(
            "/api/events", params={"from": "2018-05-21T00:00:00Z", "to": "2018-05-23T00:00:00Z"}
        )
    ).json()
    assert [e["title"] for e in window["items"]] == ["day 21", "day 22"]

    plenary = await (await client.get("/api/events", params={"channel": "plenary"})).json()
    assert {e["title"] for e in plenary["items"]} == {
        "day 19",
        "day 21",
        "day 23",
        "day 25",
        "day 27",
    }

    await client.post(f"/api/events/{ids[5]}/cancel", headers=AUTH)
    states = {}
    for state in ("upcoming", "live", "ended", "cancelled"):
        page = await (await client.get("/api/events", params={"status": state})).json()
        states[state] = [e["title"] for e in page["items"]]
    assert states["ended"] == ["day 18", "day 19"]
    assert states["cancelled"] == ["day 23"]
    assert states["live"] == []
    assert "day 20" in states["upcoming"] and "day 23" not in states["upcoming"]

    clock.now = clock.now.replace(day=20, hour=16, minute=30)
    page = await (await client.get("/api/events", params={"status": "live"})).json()
    assert [e["title"] for e in page["items"]] == ["day 20"]


async def test_idempotent_create(client: Client) -> None:
    headers = {**AUTH, "Idempotency-Key": "create-brussels-1"}
    first = await client.post("/api/events", json=BRUSSELS, headers=headers)
    second = await client.post("/api/events", json=BRUSSELS, headers=headers)
    assert first.status == second.status == 201
    assert second.headers["Idempotent-Replayed"] == "true"
    assert (await first.json())["id"] == (await second.json())["id"]

    different = await client.post(
        "/api/events", json={**BRUSSELS, "title": "Something else"}, headers=headers
    )
    assert different.status == 422
    assert "Idempotency-Key" in (await different.json())["detail"]

    listing = await (await client.get("/api/events")).json()
    assert len(listing["items"]) == 1


async def test_events_survive_a_restart(
    aiohttp_client: Any, settings: Any, clock: FakeClock
) -> None:
    from scheduler.http.app import create_app

    first = await aiohttp_client(create_app(settings, clock=clock))
    event = await create(first, title="persisted")
    await first.close()
    second = await aiohttp_client(create_app(settings, clock=clock))
    resp = await second.get(f"/api/events/{event['id']}")
    assert resp.status == 200
    assert (await resp.json())["title"] == "persisted"
