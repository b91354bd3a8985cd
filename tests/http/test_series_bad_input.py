"""A series that cannot be meant gets a 422 problem naming the field, and nothing
is stored: no series, no occurrence (one app per backend runs every case)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tests.conftest import AUTH, FakeClock
from tests.series_support import Client

GOOD = {
    "title": "EP plenary",
    "timezone": "Europe/Brussels",
    "start": "2027-01-05T18:15",
    "end": "2027-01-05T19:30",
    "rrule": "FREQ=WEEKLY;BYDAY=TU;COUNT=10",
}

CASES: list[tuple[dict[str, Any], str, str]] = [
    ({"rrule": "FREQ=FOO"}, "rrule", "FREQ=FOO is not a frequency"),
    ({"rrule": "FREQ=WEEKLY;BYDAY=XX"}, "rrule", "is not a rule we can read"),
    ({"rrule": "FREQ=WEEKLY;BYDAY=TU;COLOUR=RED"}, "rrule", "COLOUR is not a part"),
    ({"rrule": "FREQ=SECONDLY"}, "rrule", "refused"),
    ({"rrule": "FREQ=MINUTELY;COUNT=5"}, "rrule", "refused"),
    ({"rrule": "FREQ=DAILY;COUNT=3;UNTIL=20270201T000000Z"}, "rrule", "not both"),
    ({"rrule": "FREQ=DAILY;UNTIL=20270201"}, "rrule", "must be a UTC time"),
    ({"rrule": "RRULE:FREQ=DAILY"}, "rrule", "without the 'RRULE:' prefix"),
    ({"rrule": "FREQ=DAILY;INTERVAL=0"}, "rrule", "INTERVAL=0 must be"),
    ({"rrule": "FREQ=WEEKLY;UNTIL=20261231T000000Z"}, "rrule", "yields no occurrence"),
    ({"rrule": "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30"}, "rrule", "no occurrence"),
    ({"rrule": "FREQ=HOURLY"}, "rrule", "series_max_occurrences"),
    ({"rrule": "FREQ=DAILY;COUNT=5000"}, "rrule", "series_max_occurrences"),
    ({"rrule": "FREQ=WEEKLY;BYDAY=WE"}, "start", "is not an occurrence of the rule"),
    ({"end": "2027-01-05T18:15"}, "end", "must be after start"),
    ({"end": "2027-01-05T17:00"}, "end", "must be after start"),
    ({"start": "2027-01-05T18:15+01:00"}, "start", "without a UTC offset"),
    ({"timezone": "Europe/Bruxelles"}, "timezone", "not an IANA time zone"),
    ({"rrule": ""}, "rrule", "at least 1 character"),
    ({"rrule": "FREQ=DAILY\nCOUNT=2"}, "rrule", "control"),
]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2027, 1, 1, 12, 0, tzinfo=UTC))


async def _nothing_stored(client: Client) -> None:
    assert (await (await client.get("/api/series")).json())["items"] == []
    assert (await (await client.get("/api/events")).json())["items"] == []


async def test_bad_series_are_refused_naming_the_field(client: Client) -> None:
    for fields, field, phrase in CASES:
        resp = await client.post("/api/series", json={**GOOD, **fields}, headers=AUTH)
        assert resp.status == 422, (fields, await resp.text())
        assert resp.content_type == "application/problem+json"
        problem = await resp.json()
        assert problem["errors"][0]["field"] == field, (fields, problem)
        assert phrase in problem["errors"][0]["message"], (fields, problem)
    await _nothing_stored(client)


async def test_bad_changes_and_pauses_change_nothing(client: Client) -> None:
    resp = await client.post("/api/series", json=GOOD, headers=AUTH)
    assert resp.status == 201
    series = await resp.json()
    path = f"/api/series/{series['id']}"
    for body, field, phrase in [
        ({"rrule": "FREQ=MINUTELY"}, "rrule", "refused"),
        ({"title": None}, "title", "cannot be removed"),
        ({"end": "2027-01-05T18:00"}, "end", "must be after start"),
    ]:
        resp = await client.patch(path, json=body, headers=AUTH)
        assert resp.status == 422, await resp.text()
        assert (await resp.json())["errors"][0]["field"] == field
        assert phrase in (await resp.json())["errors"][0]["message"]
    resp = await client.post(
        f"{path}/pauses", json={"start": "2027-02-10", "end": "2027-02-01"}, headers=AUTH
    )
    assert resp.status == 422
    problem = await resp.json()
    assert problem["errors"][0]["field"] == "end" and "before start" in problem["detail"]
    resp = await client.post(
        f"{path}/pauses", json={"start": "soon", "end": "2027-02-01"}, headers=AUTH
    )
    assert resp.status == 422 and (await resp.json())["errors"][0]["field"] == "start"
    assert (await (await client.get(f"{path}/pauses")).json())["items"] == []
    after = await (await client.get(path)).json()
    assert after["sequence"] == 0 and after["rrule"] == GOOD["rrule"]
