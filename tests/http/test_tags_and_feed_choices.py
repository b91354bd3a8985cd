"""Tags on events, and the choices a subscriber makes in a feed's URL (which
tags, which alarms), read back by icalendar and ical.js; junk in a feed URL is
a 400 that a calendar app can show."""

from __future__ import annotations

from typing import Any

import icalendar
import pytest
from aiohttp.test_utils import TestClient

from tests.conftest import AUTH
from tests.http.test_events_api import create
from tests.integration.test_calendar import with_icaljs
from tests.series_support import create_series, occurrences

Client = TestClient[Any, Any]


async def feed(client: Client, path: str) -> icalendar.Calendar:
    resp = await client.get(path)
    assert resp.status == 200, await resp.text()
    return icalendar.Calendar.from_ical(await resp.read())


def titles(calendar: icalendar.Calendar) -> list[str]:
    return sorted(str(e["SUMMARY"]) for e in calendar.walk("VEVENT"))


async def test_tags_are_kept_listed_and_filtered(client: Client) -> None:
    press = await create(client, title="Press briefing", tags=["press", "daily", "press"])
    assert press["tags"] == ["press", "daily"]
    await create(client, title="Plenary", tags=["plenary"])
    await create(client, title="Untagged")

    resp = await client.get("/api/events?tag=press")
    assert [e["title"] for e in (await resp.json())["items"]] == ["Press briefing"]
    # "press" must not match a tag that merely contains it
    await create(client, title="Pressroom tour", tags=["pressroom"])
    resp = await client.get("/api/events?tag=press")
    assert [e["title"] for e in (await resp.json())["items"]] == ["Press briefing"]

    # "_" is a wildcard to SQL's LIKE; a tag holding it matches only itself
    await create(client, title="Hyphen", tags=["a-b"])
    for tag in ("a_b", "a__"):
        resp = await client.get(f"/api/events?tag={tag}")
        assert (await resp.json())["items"] == []
    resp = await client.patch(f"/api/events/{press['id']}", json={"tags": []}, headers=AUTH)
    changed = await resp.json()
    assert changed["tags"] == [] and changed["sequence"] == 1
    resp = await client.get("/api/events?tag=press")
    assert (await resp.json())["items"] == []


@pytest.mark.parametrize(
    ("tags", "says"),
    [(["Press"], "is not a tag"), (["a b"], "is not a tag"), ([f"t{i}" for i in range(11)], "10")],
)
async def test_bad_tags_are_refused_naming_the_field(
    client: Client, tags: list[str], says: str
) -> None:
    resp = await client.post(
        "/api/events",
        json={
            "title": "x",
            "timezone": "Europe/Brussels",
            "start": "2018-05-22T18:15",
            "end": "2018-05-22T19:30",
            "tags": tags,
        },
        headers=AUTH,
    )
    assert resp.status == 422
    problem = await resp.json()
    assert problem["errors"][0]["field"] == "tags" and says in problem["detail"]
    assert (await (await client.get("/api/events")).json())["items"] == []
    assert (await client.get("/api/events?tag=Bad")).status == 422


async def test_feeds_filter_by_tags_and_show_them_as_categories(client: Client) -> None:
    await create(client, title="Press briefing", channel="press", tags=["daily"])
    await create(client, title="Plenary", channel="plenary", tags=["vote", "daily"])
    await create(client, title="Committee", channel="plenary", tags=["hearing"])

    everything = await feed(client, "/calendar.ics")
    categories = {
        str(e["SUMMARY"]): [str(c) for c in e["CATEGORIES"].cats] for e in everything.walk("VEVENT")
    }
    assert categories["Plenary"] == ["plenary", "vote", "daily"]
    assert titles(await feed(client, "/calendar.ics?tags=daily")) == ["Plenary", "Press briefing"]
    assert titles(await feed(client, "/calendar.ics?tags=vote,hearing")) == [
        "Committee",
        "Plenary",
    ]
    assert titles(await feed(client, "/calendar.ics?channel=plenary&tags=daily")) == ["Plenary"]
    assert titles(await feed(client, "/channels/plenary/calendar.ics?tags=hearing")) == [
        "Committee"
    ]
    assert titles(await feed(client, "/calendar.ics?tags=nothing")) == []


async def test_subscribers_choose_their_alarms(client: Client) -> None:
    event = await create(client, title="Plenary", reminders=[60, 15])
    cancelled = await create(client, title="Cancelled one", reminders=[10])
    await client.post(f"/api/events/{cancelled['id']}/cancel", headers=AUTH)

    def alarms(calendar: icalendar.Calendar) -> dict[str, list[str]]:
        return {
            str(e["SUMMARY"]): [str(a.decoded("TRIGGER")) for a in e.walk("VALARM")]
            for e in calendar.walk("VEVENT")
        }

    own = alarms(await feed(client, "/calendar.ics"))
    assert own == {"Plenary": ["-1 day, 23:00:00", "-1 day, 23:45:00"], "Cancelled one": []}
    assert alarms(await feed(client, "/calendar.ics?alarms=none")) == {
        "Plenary": [],
        "Cancelled one": [],
    }
    chosen = await client.get("/calendar.ics?alarms=5,30")
    text = await chosen.text()
    assert alarms(icalendar.Calendar.from_ical(text)) == {
        "Plenary": ["-1 day, 23:30:00", "-1 day, 23:55:00"],
        "Cancelled one": [],  # a cancelled event never rings
    }
    by_icaljs = {e["summary"]: e["alarms"] for e in with_icaljs(text)["events"]}
    assert by_icaljs == {"Plenary": ["-PT30M", "-PT5M"], "Cancelled one": []}
    one = await client.get(f"/events/{event['id']}.ics?alarms=none")
    assert "VALARM" not in await one.text()


async def test_each_choice_has_its_own_etag_and_follows_changes(client: Client) -> None:
    event = await create(client, title="Plenary", tags=["vote"])
    await create(client, title="Hearing", tags=["hearing"])
    paths = ["/calendar.ics", "/calendar.ics?alarms=none", "/calendar.ics?tags=vote"]
    etags = {}
    for path in paths:
        resp = await client.get(path)
        etags[path] = resp.headers["ETag"]
        again = await client.get(path, headers={"If-None-Match": etags[path]})
        assert again.status == 304
    assert len(set(etags.values())) == 3
    await client.patch(
        f"/api/events/{event['id']}", json={"title": "Plenary (moved)"}, headers=AUTH
    )
    for path in paths:
        resp = await client.get(path, headers={"If-None-Match": etags[path]})
        assert resp.status == 200 and resp.headers["ETag"] != etags[path]
        assert "Plenary (moved)" in await resp.text()


@pytest.mark.parametrize(
    ("path", "says"),
    [
        ("/calendar.ics?colour=red", "'colour' is not one of them"),
        ("/calendar.ics?alarms=soon", "alarms is none"),
        ("/calendar.ics?alarms=99999", "0 to 40320"),
        ("/calendar.ics?alarms=", "alarms is none"),
        ("/calendar.ics?tags=", "tags is a comma-separated list"),
        ("/calendar.ics?tags=Press", "tags is a comma-separated list"),
        ("/calendar.ics?tags=a&tags=b", "give tags once"),
        ("/calendar.ics?channel=Bad%20Name", "channel names"),
        ("/channels/plenary/calendar.ics?channel=press", "takes tags, alarms"),
        ("/events/abc.ics?tags=press", "takes alarms"),
    ],
)
async def test_junk_in_a_feed_url_is_a_400_saying_what(
    client: Client, path: str, says: str
) -> None:
    resp = await client.get(path)
    assert resp.status == 400, await resp.text()
    assert says in (await resp.json())["detail"]


async def test_a_series_carries_its_tags_to_its_occurrences_and_feeds(client: Client) -> None:
    series = await create_series(
        client,
        start="2018-06-05T18:15",
        end="2018-06-05T19:30",
        rrule="FREQ=WEEKLY;COUNT=3",
        tags=["plenary"],
        reminders=[15],
    )
    assert series["tags"] == ["plenary"]
    await create(client, title="Press briefing", tags=["press"])
    assert {e["title"] for e in await occurrences(client, series["id"])} == {"EP plenary"}
    resp = await client.get("/api/events?tag=plenary")
    assert len((await resp.json())["items"]) == 3

    only = await feed(client, "/calendar.ics?tags=plenary")
    (master,) = only.walk("VEVENT")
    assert "RRULE" in master and [str(c) for c in master["CATEGORIES"].cats] == ["plenary"]
    assert titles(await feed(client, "/calendar.ics?tags=press")) == ["Press briefing"]
    quiet = await feed(client, "/calendar.ics?alarms=none&tags=plenary")
    assert quiet.walk("VALARM") == []

    resp = await client.patch(
        f"/api/series/{series['id']}", json={"tags": ["plenary", "vote"]}, headers=AUTH
    )
    assert resp.status == 200, await resp.text()
    assert all(e["tags"] == ["plenary", "vote"] for e in await occurrences(client, series["id"]))
    assert len(only.walk("VEVENT")) == 1
    assert len((await feed(client, "/calendar.ics?tags=vote")).walk("VEVENT")) == 1


async def test_an_occurrences_tags_are_its_series(client: Client) -> None:
    series = await create_series(
        client, start="2018-06-05T18:15", end="2018-06-05T19:30", rrule="FREQ=WEEKLY;COUNT=2"
    )
    first = (await occurrences(client, series["id"]))[0]
    resp = await client.patch(
        f"/api/events/{first['id']}", json={"tags": ["special"]}, headers=AUTH
    )
    assert resp.status == 422
    problem = await resp.json()
    assert (
        problem["errors"][0]["field"] == "tags"
        and f"/api/series/{series['id']}" in problem["detail"]
    )
    resp = await client.patch(f"/api/events/{first['id']}", json={"title": "Renamed"}, headers=AUTH)
    assert resp.status == 200  # the rest of an occurrence still changes on its own
