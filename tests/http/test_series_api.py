"""Recurring series through HTTP, on SQLite and on PostgreSQL: wall time across
DST, gaps and folds as RFC 5545 reads them, exceptions, pauses and series
changes, as the events API and the feed show them."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from icalendar import Calendar

from scheduler.http.app import create_app
from tests.conftest import AUTH, FakeClock, make_settings
from tests.series_support import Client, create_series, feed, occurrences, spans, utc


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2027, 1, 1, 12, 0, tzinfo=UTC))


async def test_weekly_tuesday_keeps_its_wall_time_across_both_changes(client: Client) -> None:
    series = await create_series(
        client,
        start="2027-03-23T18:15",
        end="2027-03-23T19:30",
        rrule="FREQ=WEEKLY;BYDAY=TU;UNTIL=20271110T000000Z",
    )
    assert series["rrule"] == "FREQ=WEEKLY;BYDAY=TU;UNTIL=20271110T000000Z"
    assert series["start"] == "2027-03-23T18:15:00+01:00"
    assert [o["start"] for o in series["next_occurrences"]][:2] == [
        "2027-03-23T18:15:00+01:00",
        "2027-03-30T18:15:00+02:00",
    ]
    found = await occurrences(client, series["id"])
    assert len(found) == 34  # 23 March to 9 November
    for event in found:
        assert event["series_id"] == series["id"]
        assert event["recurrence_id"] == event["start_utc"]
        assert event["exception"] is False
        assert event["start"][11:16] == "18:15" and event["end"][11:16] == "19:30"
        day = event["start"][:10]
        winter = day < "2027-03-28" or day > "2027-10-31"
        assert event["start_utc"][11:16] == ("17:15" if winter else "16:15"), event["start"]
    assert [e["start_utc"] for e in found[:2]] == ["2027-03-23T17:15:00Z", "2027-03-30T16:15:00Z"]
    assert [e["start_utc"] for e in found[-3:]] == [
        "2027-10-26T16:15:00Z",
        "2027-11-02T17:15:00Z",
        "2027-11-09T17:15:00Z",
    ]


async def test_daily_0230_follows_rfc5545_in_the_gap_and_the_fold(client: Client) -> None:
    series = await create_series(
        client,
        start="2027-03-27T02:30",
        end="2027-03-27T03:00",
        rrule="FREQ=DAILY;UNTIL=20271102T000000Z",
    )
    by_day = {e["start"][:10]: e for e in await occurrences(client, series["id"])}
    # skipped hour: read with the offset before the jump (+01:00)
    assert by_day["2027-03-27"]["start_utc"] == "2027-03-27T01:30:00Z"
    gap = [d for d in by_day.values() if d["recurrence_id"] == "2027-03-28T01:30:00Z"]
    assert len(gap) == 1 and gap[0]["start"] == "2027-03-28T03:30:00+02:00"
    assert gap[0]["end_utc"] == "2027-03-28T02:00:00Z"  # each lasts 30 minutes
    assert by_day["2027-03-29"]["start_utc"] == "2027-03-29T00:30:00Z"
    # repeated hour: the first 02:30
    assert by_day["2027-10-30"]["start_utc"] == "2027-10-30T00:30:00Z"
    assert by_day["2027-10-31"]["start_utc"] == "2027-10-31T00:30:00Z"
    assert by_day["2027-10-31"]["start"] == "2027-10-31T02:30:00+02:00"
    assert by_day["2027-11-01"]["start_utc"] == "2027-11-01T01:30:00Z"
    assert len(by_day) == 220


async def _patch(client: Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
    resp = await client.patch(path, json=body, headers=AUTH)
    assert resp.status == 200, await resp.text()
    result: dict[str, Any] = await resp.json()
    return result


async def test_exceptions_and_a_pause_survive_a_title_change(
    client: Client, clock: FakeClock
) -> None:
    series = await create_series(
        client,
        start="2027-01-05T18:15",
        end="2027-01-05T19:30",
        rrule="FREQ=WEEKLY;BYDAY=TU;COUNT=8",
        channel="plenary",
    )
    first = await occurrences(client, series["id"])
    moved = await _patch(
        client,
        f"/api/events/{first[1]['id']}",
        {"start": "2027-01-12T20:00", "end": "2027-01-12T21:00"},
    )
    assert moved["exception"] is True and moved["sequence"] == 1
    resp = await client.post(f"/api/events/{first[2]['id']}/cancel", headers=AUTH)
    assert resp.status == 200
    assert (await resp.json())["exception"] is True
    resp = await client.post(
        f"/api/series/{series['id']}/pauses",
        json={"start": "2027-02-01", "end": "2027-02-10", "reason": "Committee week"},
        headers=AUTH,
    )
    assert resp.status == 201, await resp.text()
    pause = await resp.json()
    assert pause["cancelled"] == 2  # 2 and 9 February
    listed = await (await client.get(f"/api/series/{series['id']}/pauses")).json()
    assert [(p["start"], p["end"], p["reason"], p["cancelled"]) for p in listed["items"]] == [
        ("2027-02-01", "2027-02-10", "Committee week", 2)
    ]
    clock.advance(minutes=1)
    changed = await _patch(client, f"/api/series/{series['id']}", {"title": "Plenary session"})
    assert changed["title"] == "Plenary session" and changed["sequence"] > series["sequence"]

    after = {e["id"]: e for e in await occurrences(client, series["id"])}
    assert len(after) == 8
    assert after[first[1]["id"]]["title"] == "EP plenary"  # the moved one kept its title
    assert after[first[1]["id"]]["start"] == "2027-01-12T20:00:00+01:00"
    assert after[first[2]["id"]]["status"] == "cancelled"
    assert after[first[2]["id"]]["title"] == "EP plenary"
    paused = [e for e in after.values() if e["cancel_reason"] == "Committee week"]
    assert [e["start"][:10] for e in sorted(paused, key=lambda e: e["start"])] == [
        "2027-02-02",
        "2027-02-09",
    ]
    assert all(e["status"] == "cancelled" for e in paused)
    others = [e for e in after.values() if not e["exception"] and e not in paused]
    assert len(others) == 4 and all(e["title"] == "Plenary session" for e in others)

    text = await feed(client)
    cal = Calendar.from_ical(text)
    mine = [v for v in cal.walk("VEVENT") if str(v["UID"]).startswith(series["id"])]
    masters = [v for v in mine if "RECURRENCE-ID" not in v]
    assert len(masters) == 1
    master = masters[0]
    assert master["DTSTART"].params["TZID"] == "Europe/Brussels"
    assert dict(master["RRULE"]) == {"FREQ": ["WEEKLY"], "BYDAY": ["TU"], "COUNT": [8]}
    raw = master["EXDATE"]
    excluded = sorted(d.dt for item in (raw if isinstance(raw, list) else [raw]) for d in item.dts)
    assert [d.date().isoformat() for d in excluded] == ["2027-02-02", "2027-02-09"]
    assert "Committee week" in str(master["COMMENT"])
    overrides = {str(v["STATUS"]): v for v in mine if "RECURRENCE-ID" in v}
    assert set(overrides) == {"CONFIRMED", "CANCELLED"}
    assert str(overrides["CONFIRMED"]["SUMMARY"]) == "EP plenary"
    assert int(overrides["CONFIRMED"]["SEQUENCE"]) == 1
    assert overrides["CONFIRMED"]["DTSTART"].dt.hour == 20
    vtimezones = [str(z["TZID"]) for z in cal.walk("VTIMEZONE")]
    assert vtimezones == ["Europe/Brussels"]
    assert spans(list(after.values()))  # still happening ones are listed

    # the pause deleted: its occurrences come back, under the new title
    resp = await client.delete(f"/api/series/{series['id']}/pauses/{pause['id']}", headers=AUTH)
    assert resp.status == 204
    paused_ids = {p["id"] for p in paused}
    back = [e for e in await occurrences(client, series["id"]) if e["id"] in paused_ids]
    assert all(e["status"] == "scheduled" and e["cancel_reason"] is None for e in back)
    assert all(e["title"] == "Plenary session" for e in back)


async def test_an_exception_in_another_zone_brings_its_vtimezone(client: Client) -> None:
    series = await create_series(
        client, start="2027-01-05T18:15", end="2027-01-05T19:30", rrule="FREQ=WEEKLY;COUNT=3"
    )
    first = (await occurrences(client, series["id"]))[1]
    moved = await _patch(
        client,
        f"/api/events/{first['id']}",
        {"timezone": "America/New_York", "start": "2027-01-12T12:00", "end": "2027-01-12T13:00"},
    )
    assert moved["start_utc"] == "2027-01-12T17:00:00Z"
    cal = Calendar.from_ical(await feed(client))
    assert sorted(str(z["TZID"]) for z in cal.walk("VTIMEZONE")) == [
        "America/New_York",
        "Europe/Brussels",
    ]


async def test_a_time_change_moves_future_occurrences_in_place(
    client: Client, clock: FakeClock
) -> None:
    series = await create_series(
        client, start="2027-01-05T18:15", end="2027-01-05T19:30", rrule="FREQ=WEEKLY;COUNT=6"
    )
    before = await occurrences(client, series["id"])
    clock.now = utc("2027-01-20T00:00:00Z")  # three have happened
    await _patch(
        client,
        f"/api/series/{series['id']}",
        {"start": "2027-01-05T19:00", "end": "2027-01-05T20:00"},
    )
    after = await occurrences(client, series["id"])
    assert [e["id"] for e in after] == [e["id"] for e in before]  # same rows, moved
    assert [e["start"][11:16] for e in after] == ["18:15"] * 3 + ["19:00"] * 3
    assert [e["sequence"] for e in after] == [0, 0, 0, 1, 1, 1]
    assert all(e["recurrence_id"] == e["start_utc"] for e in after[3:])


async def test_a_rule_change_removes_what_it_no_longer_yields(
    client: Client, clock: FakeClock
) -> None:
    series = await create_series(
        client,
        start="2027-01-05T18:15",
        end="2027-01-05T19:30",
        rrule="FREQ=WEEKLY;BYDAY=TU;COUNT=4",
    )
    await _patch(client, f"/api/series/{series['id']}", {"rrule": "FREQ=WEEKLY;BYDAY=TU;COUNT=2"})
    after = await occurrences(client, series["id"])
    assert [e["start"][:10] for e in after] == ["2027-01-05", "2027-01-12"]


async def test_series_read_list_etag_and_idempotency(client: Client, clock: FakeClock) -> None:
    body = {
        "title": "Daily news",
        "timezone": "Europe/Brussels",
        "start": "2027-01-04T08:00",
        "end": "2027-01-04T08:30",
        "rrule": "FREQ=DAILY;COUNT=3",
    }
    key = {"Idempotency-Key": "series-1", **AUTH}
    resp = await client.post("/api/series", json=body, headers=key)
    assert resp.status == 201
    created = await resp.json()
    again = await client.post("/api/series", json=body, headers=key)
    assert again.status == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert (await again.json())["id"] == created["id"]
    assert len(await occurrences(client, created["id"])) == 3  # stored once

    resp = await client.get(f"/api/series/{created['id']}")
    etag = resp.headers["ETag"]
    assert (await resp.json())["id"] == created["id"]
    cached = await client.get(f"/api/series/{created['id']}", headers={"If-None-Match": etag})
    assert cached.status == 304
    stale = await client.patch(
        f"/api/series/{created['id']}",
        json={"title": "x"},
        headers={**AUTH, "If-Match": '"not-it"'},
    )
    assert stale.status == 412
    ok = await client.patch(
        f"/api/series/{created['id']}", json={"title": "News"}, headers={**AUTH, "If-Match": etag}
    )
    assert ok.status == 200

    clock.advance(seconds=1)  # listed in order of creation
    other = await create_series(
        client, start="2027-01-04T20:00", end="2027-01-04T21:00", rrule="FREQ=DAILY;COUNT=1"
    )
    listed = await (await client.get("/api/series", params={"limit": "1"})).json()
    assert [s["id"] for s in listed["items"]] == [created["id"]]
    following = await (
        await client.get("/api/series", params={"limit": "1", "cursor": listed["next_cursor"]})
    ).json()
    assert [s["id"] for s in following["items"]] == [other["id"]]
    assert following["next_cursor"] is None
    bad = await client.get("/api/series", params={"cursor": "not-ours"})
    assert bad.status == 422 and (await bad.json())["errors"][0]["field"] == "cursor"

    resp = await client.post(f"/api/series/{created['id']}/cancel", headers=AUTH)
    assert resp.status == 200 and (await resp.json())["status"] == "cancelled"
    assert all(e["status"] == "cancelled" for e in await occurrences(client, created["id"]))
    refused = await client.patch(
        f"/api/series/{created['id']}", json={"title": "again"}, headers=AUTH
    )
    assert refused.status == 409

    resp = await client.delete(f"/api/series/{created['id']}", headers=AUTH)
    assert resp.status == 204
    assert (await client.get(f"/api/series/{created['id']}")).status == 404
    assert await occurrences(client, created["id"]) == []


async def test_an_occurrence_cannot_be_deleted_alone(client: Client) -> None:
    series = await create_series(
        client, start="2027-01-05T18:15", end="2027-01-05T19:30", rrule="FREQ=DAILY;COUNT=2"
    )
    first = (await occurrences(client, series["id"]))[0]
    resp = await client.delete(f"/api/events/{first['id']}", headers=AUTH)
    assert resp.status == 409
    assert "cancel it" in (await resp.json())["detail"]
    assert len(await occurrences(client, series["id"])) == 2


async def test_writes_need_the_token(client: Client) -> None:
    resp = await client.post(
        "/api/series",
        json={
            "title": "x",
            "timezone": "UTC",
            "start": "2027-01-04T08:00",
            "end": "2027-01-04T09:00",
            "rrule": "FREQ=DAILY;COUNT=1",
        },
    )
    assert resp.status == 401
    assert (await (await client.get("/api/series")).json())["items"] == []


async def test_an_occurrence_ics_stands_on_its_own(client: Client) -> None:
    series = await create_series(
        client,
        start="2027-10-30T02:30",
        end="2027-10-30T03:00",
        rrule="FREQ=DAILY;COUNT=3",
        reminders=[15],
    )
    fold = (await occurrences(client, series["id"]))[1]
    assert fold["start_utc"] == "2027-10-31T00:30:00Z"
    resp = await client.get(f"/events/{fold['id']}.ics")
    assert resp.status == 200
    cal = Calendar.from_ical(await resp.text())
    (vevent,) = cal.walk("VEVENT")
    assert "RRULE" not in vevent and "RECURRENCE-ID" not in vevent
    assert str(vevent["UID"]).startswith(fold["id"])
    # a repeated hour is written in UTC, so every reader takes the first 02:30
    assert vevent["DTSTART"].dt == utc("2027-10-31T00:30:00Z")
    assert [str(z["TZID"]) for z in cal.walk("VTIMEZONE")] == ["Europe/Brussels"]
    assert len(vevent.walk("VALARM")) == 1


async def test_series_do_not_crowd_one_off_events_out_of_a_feed(
    aiohttp_client: Any, tmp_path: Path, database_url: str, clock: FakeClock
) -> None:
    """A feed holds at most feed_max_events events; a series counts once there."""
    settings = make_settings(tmp_path, database_url, feed_max_events=5)
    client: Client = await aiohttp_client(create_app(settings, clock=clock))
    daily = await create_series(
        client, start="2027-01-02T08:00", end="2027-01-02T09:00", rrule="FREQ=DAILY;COUNT=30"
    )
    resp = await client.post(
        "/api/events",
        json={
            "title": "Later one-off",
            "timezone": "Europe/Brussels",
            "start": "2027-03-01T10:00",
            "end": "2027-03-01T11:00",
        },
        headers=AUTH,
    )
    assert resp.status == 201
    one_off = await resp.json()
    cal = Calendar.from_ical(await feed(client))
    uids = [str(v["UID"]) for v in cal.walk("VEVENT")]
    assert uids == [
        f"{daily['id']}@broadcast-scheduler.local",
        f"{one_off['id']}@broadcast-scheduler.local",
    ]
    # a change to an occurrence is heard: the master gains its override
    first = (await occurrences(client, daily["id"]))[0]
    await _patch(client, f"/api/events/{first['id']}", {"title": "Special"})
    cal = Calendar.from_ical(await feed(client))
    assert [str(v["SUMMARY"]) for v in cal.walk("VEVENT") if "RECURRENCE-ID" in v] == ["Special"]
