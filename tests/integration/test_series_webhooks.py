"""Occurrence webhooks end to end, on the real clock: an occurrence's
``event.started`` carries its series, a series change re-plans without sending
anything twice, a move within the dispatch lookahead loses nothing, and a
cancel/restore/cancel sends ``event.cancelled`` each time it really changes."""

from __future__ import annotations

import asyncio

from tests.conftest import AUTH
from tests.helpers import Client, local_in, subscribe
from tests.receiver import Receiver
from tests.series_support import create_series, occurrences


async def test_an_occurrence_starts_with_its_series(app_client: Client, receiver: Receiver) -> None:
    await subscribe(app_client, receiver, types=["event.started"])
    start = local_in(2)
    series = await create_series(
        app_client, start=start, end=local_in(1800), rrule="FREQ=DAILY;COUNT=2"
    )
    first = (await occurrences(app_client, series["id"]))[0]
    await receiver.wait_for(1, type_="event.started", timeout=6)
    started = receiver.of_type("event.started")[0]
    assert started.verified
    event = started.body["data"]["event"]
    assert event["id"] == first["id"]
    assert event["series_id"] == series["id"]
    assert event["recurrence_id"] == first["start_utc"] == started.body["data"]["scheduled_for"]
    assert 0 <= started.lateness() < 0.5


async def test_a_move_within_the_lookahead_loses_nothing(
    app_client: Client, receiver: Receiver
) -> None:
    await subscribe(app_client, receiver, types=["event.started"])
    series = await create_series(
        app_client, start=local_in(2.5), end=local_in(1800), rrule="FREQ=DAILY;COUNT=2"
    )
    await asyncio.sleep(1.0)  # its start is prepared (lookahead 2 s) or about to be
    later = local_in(2.5)
    resp = await app_client.patch(
        f"/api/series/{series['id']}", json={"start": later}, headers=AUTH
    )
    assert resp.status == 200, await resp.text()
    first = (await occurrences(app_client, series["id"]))[0]
    assert first["sequence"] == 1
    await receiver.wait_for(1, type_="event.started", timeout=6)
    await asyncio.sleep(0.5)
    started = receiver.of_type("event.started")
    assert len(started) == 1  # once, at the new time
    assert started[0].body["data"]["scheduled_for"] == first["start_utc"]
    assert 0 <= started[0].lateness() < 0.5


async def test_a_series_change_sends_one_update_per_occurrence(
    app_client: Client, receiver: Receiver
) -> None:
    await subscribe(app_client, receiver, types=["event.updated", "event.reminder"])
    series = await create_series(
        app_client,
        start=local_in(86400),
        end=local_in(86400 + 3600),
        rrule="FREQ=WEEKLY;COUNT=3",
        reminders=[60],
    )
    resp = await app_client.patch(
        f"/api/series/{series['id']}", json={"title": "Renamed"}, headers=AUTH
    )
    assert resp.status == 200
    await receiver.wait_for(3, type_="event.updated", timeout=6)
    again = await app_client.patch(
        f"/api/series/{series['id']}", json={"title": "Renamed"}, headers=AUTH
    )
    assert again.status == 200  # the same title again: no change
    await asyncio.sleep(0.6)
    updated = receiver.of_type("event.updated")
    assert len(updated) == 3
    assert len({u.body["data"]["event"]["id"] for u in updated}) == 3
    assert all(u.body["data"]["event"]["title"] == "Renamed" for u in updated)
    assert receiver.of_type("event.reminder") == []


async def test_cancel_restore_cancel_sends_each_cancellation(
    app_client: Client, receiver: Receiver
) -> None:
    await subscribe(app_client, receiver, types=["event.cancelled", "event.updated"])
    series = await create_series(
        app_client, start=local_in(86400), end=local_in(86400 + 3600), rrule="FREQ=DAILY;COUNT=3"
    )
    first = (await occurrences(app_client, series["id"]))[0]
    day = first["start"][:10]
    path = f"/api/series/{series['id']}/pauses"
    resp = await app_client.post(
        path, json={"start": day, "end": day, "reason": "Strike"}, headers=AUTH
    )
    assert resp.status == 201
    pause = await resp.json()
    await receiver.wait_for(1, type_="event.cancelled", timeout=6)
    resp = await app_client.delete(f"{path}/{pause['id']}", headers=AUTH)
    assert resp.status == 204
    await receiver.wait_for(1, type_="event.updated", timeout=6)
    resp = await app_client.post(path, json={"start": day, "end": day}, headers=AUTH)
    assert resp.status == 201
    await receiver.wait_for(2, type_="event.cancelled", timeout=6)
    cancelled = receiver.of_type("event.cancelled")
    assert [c.body["data"]["event"]["id"] for c in cancelled] == [first["id"], first["id"]]
    assert [c.body["data"]["event"]["cancel_reason"] for c in cancelled] == ["Strike", "paused"]
    assert cancelled[0].webhook_id != cancelled[1].webhook_id
    restored = receiver.of_type("event.updated")[0].body["data"]["event"]
    assert restored["status"] == "scheduled" and restored["cancel_reason"] is None
    # a cancel of what is cancelled already sends nothing more
    resp = await app_client.post(f"/api/events/{first['id']}/cancel", headers=AUTH)
    assert resp.status == 200
    await asyncio.sleep(0.5)
    assert len(receiver.of_type("event.cancelled")) == 2


async def test_a_rule_change_cancels_what_was_announced_and_removes_the_rest(
    app_client: Client, receiver: Receiver
) -> None:
    await subscribe(
        app_client, receiver, types=["event.reminder", "event.cancelled", "event.updated"]
    )
    start, end = local_in(62), local_in(1800)
    series = await create_series(
        app_client, start=start, end=end, rrule="FREQ=DAILY;COUNT=2", reminders=[1]
    )
    first, second = await occurrences(app_client, series["id"])
    await receiver.wait_for(1, type_="event.reminder", timeout=6)  # the first is announced
    resp = await app_client.patch(
        f"/api/series/{series['id']}",
        json={"start": local_in(3 * 86400), "end": local_in(3 * 86400 + 1800)},
        headers=AUTH,
    )
    assert resp.status == 200, await resp.text()
    await receiver.wait_for(1, type_="event.cancelled", timeout=6)
    after = {e["id"]: e for e in await occurrences(app_client, series["id"])}
    assert after[first["id"]]["status"] == "cancelled"  # announced: cancelled, kept
    assert second["id"] not in after  # never announced: removed
    assert [c.body["data"]["event"]["id"] for c in receiver.of_type("event.cancelled")] == [
        first["id"]
    ]
    new = [e for e in after.values() if e["id"] != first["id"]]
    assert len(new) == 2 and all(e["status"] == "scheduled" for e in new)

    # back to the first rule: the cancelled occurrence comes back (event.updated)
    resp = await app_client.patch(
        f"/api/series/{series['id']}", json={"start": start, "end": end}, headers=AUTH
    )
    assert resp.status == 200, await resp.text()
    await receiver.wait_for(1, type_="event.updated", timeout=6)
    back = await occurrences(app_client, series["id"])
    assert back[0]["id"] == first["id"] and back[0]["status"] == "scheduled"
    assert len(back) == 2 and [e["status"] for e in back] == ["scheduled", "scheduled"]
    restored = receiver.of_type("event.updated")[0].body["data"]["event"]
    assert restored["id"] == first["id"] and restored["status"] == "scheduled"
