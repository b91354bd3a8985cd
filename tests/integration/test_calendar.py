"""iCal feeds read by three independent parsers, which must agree on every instant.

Parsers: icalendar (+ recurring-ical-events), Home Assistant's strict ``ical``,
and Mozilla's ical.js (Thunderbird's parser) under node. Each computes the UTC
instants of every event; they must be the instants the API reports.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import recurring_ical_events
from aiohttp.test_utils import TestClient
from ical.calendar_stream import IcsCalendarStream
from icalendar import Calendar

from tests.conftest import AUTH, BRUSSELS, FakeClock

Client = TestClient[Any, Any]
INTEROP = Path(__file__).parents[1] / "interop"

# (zone, local start, local end, expected UTC start, expected UTC end)
CASES = [
    (
        "Europe/Brussels",
        "2018-05-22T18:15",
        "2018-05-22T19:30",
        "2018-05-22T16:15",
        "2018-05-22T17:30",
    ),
    (
        "Europe/Brussels",
        "2019-03-30T18:00",
        "2019-03-30T19:00",
        "2019-03-30T17:00",
        "2019-03-30T18:00",
    ),
    (
        "Europe/Brussels",
        "2019-03-31T18:00",
        "2019-03-31T19:00",
        "2019-03-31T16:00",
        "2019-03-31T17:00",
    ),
    (
        "Europe/Brussels",
        "2019-10-26T18:00",
        "2019-10-26T19:00",
        "2019-10-26T16:00",
        "2019-10-26T17:00",
    ),
    (
        "Europe/Brussels",
        "2019-10-27T18:00",
        "2019-10-27T19:00",
        "2019-10-27T17:00",
        "2019-10-27T18:00",
    ),
    # the second 02:30 of the fall-back night: written in UTC, since TZID means the first
    (
        "Europe/Brussels",
        "2019-10-27T02:30+01:00",
        "2019-10-27T03:30",
        "2019-10-27T01:30",
        "2019-10-27T02:30",
    ),
    (
        "America/New_York",
        "2019-03-09T12:00",
        "2019-03-09T13:00",
        "2019-03-09T17:00",
        "2019-03-09T18:00",
    ),
    (
        "America/New_York",
        "2019-03-10T12:00",
        "2019-03-10T13:00",
        "2019-03-10T16:00",
        "2019-03-10T17:00",
    ),
    (
        "America/New_York",
        "2019-11-02T12:00",
        "2019-11-02T13:00",
        "2019-11-02T16:00",
        "2019-11-02T17:00",
    ),
    (
        "America/New_York",
        "2019-11-03T12:00",
        "2019-11-03T13:00",
        "2019-11-03T17:00",
        "2019-11-03T18:00",
    ),
    (
        "Australia/Lord_Howe",
        "2019-10-05T12:00",
        "2019-10-05T13:00",
        "2019-10-05T01:30",
        "2019-10-05T02:30",
    ),
    (
        "Australia/Lord_Howe",
        "2019-10-06T12:00",
        "2019-10-06T13:00",
        "2019-10-06T01:00",
        "2019-10-06T02:00",
    ),
    (
        "Asia/Kathmandu",
        "2019-06-01T12:00",
        "2019-06-01T13:00",
        "2019-06-01T06:15",
        "2019-06-01T07:15",
    ),
]
TRICKY_TEXT = 'Parlement européen — «Zuckerberg»; a, b\\c\nsecond line 🎥 "quoted"'


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture
def early_clock(clock: FakeClock) -> FakeClock:
    clock.now = datetime(2018, 1, 1, tzinfo=UTC)
    return clock


async def create(client: Client, **fields: Any) -> dict[str, Any]:
    resp = await client.post("/api/events", json={**BRUSSELS, **fields}, headers=AUTH)
    assert resp.status == 201, await resp.text()
    body: dict[str, Any] = await resp.json()
    return body


async def feed(client: Client, path: str = "/calendar.ics") -> str:
    resp = await client.get(path)
    assert resp.status == 200, await resp.text()
    assert resp.headers["Content-Type"] == "text/calendar; charset=utf-8"
    return (await resp.read()).decode("utf-8")


# --- the three parsers -------------------------------------------------------------


def with_icalendar(text: str) -> dict[str, tuple[datetime, datetime]]:
    cal = Calendar.from_ical(text)
    # our VTIMEZONEs, interpreted by icalendar itself rather than looked up by name
    ours = {tz["TZID"]: tz.to_tz(lookup_tzid=False) for tz in cal.walk("VTIMEZONE")}
    found = {}
    for event in recurring_ical_events.of(cal).between(datetime(1900, 1, 1), datetime(2200, 1, 1)):
        start, end = event["DTSTART"].dt, event["DTEND"].dt
        tzid = event["DTSTART"].params.get("TZID")
        if tzid:
            start = start.replace(tzinfo=ours[tzid])
            end = end.replace(tzinfo=ours[tzid])
        found[str(event["UID"])] = (start.astimezone(UTC), end.astimezone(UTC))
    return found


def with_ha_ical(text: str) -> dict[str, tuple[datetime, datetime]]:
    calendar = IcsCalendarStream.calendar_from_ics(text)
    return {
        e.uid: (e.dtstart.astimezone(UTC), e.dtend.astimezone(UTC))  # type: ignore[union-attr]
        for e in calendar.events
    }


def with_icaljs(text: str) -> dict[str, Any]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("ical.js interop needs node (it runs in CI)")
    if not (INTEROP / "node_modules" / "ical.js").exists():
        pytest.skip("ical.js is not installed: run `npm ci --prefix tests/interop`")
    result = subprocess.run(
        [node, str(INTEROP / "parse_ical.mjs")],
        input=text,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    parsed: dict[str, Any] = json.loads(result.stdout)
    return parsed


def icaljs_instants(parsed: dict[str, Any]) -> dict[str, tuple[datetime, datetime]]:
    def read(value: str) -> datetime:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))

    return {e["uid"]: (read(e["start_utc"]), read(e["end_utc"])) for e in parsed["events"]}


# --- tests -------------------------------------------------------------------------


@pytest.mark.parametrize("parser", ["icalendar", "ha-ical", "ical.js"])
async def test_every_parser_computes_the_right_instants(
    client: Client, early_clock: FakeClock, parser: str
) -> None:
    expected = {}
    for zone, start, end, start_utc, end_utc in CASES:
        event = await create(client, timezone=zone, start=start, end=end, title=f"{zone} {start}")
        assert event["start_utc"] == start_utc + ":00Z"  # the API and the feed agree
        expected[f"{event['id']}@broadcast-scheduler.local"] = (utc(start_utc), utc(end_utc))
    text = await feed(client)
    for item in Calendar.from_ical(text).walk("VEVENT"):  # never a floating time
        assert item["DTSTART"].dt.tzinfo is not None and item["DTEND"].dt.tzinfo is not None
    if parser == "icalendar":
        found = with_icalendar(text)
    elif parser == "ha-ical":
        found = with_ha_ical(text)
    else:
        found = icaljs_instants(with_icaljs(text))
    assert found == expected


async def test_new_york_subscriber_sees_12_15(client: Client, early_clock: FakeClock) -> None:
    from zoneinfo import ZoneInfo

    await create(client)
    start, end = next(iter(with_icalendar(await feed(client)).values()))
    ny = ZoneInfo("America/New_York")
    assert (
        start.astimezone(ny).strftime("%Y-%m-%d %H:%M"),
        end.astimezone(ny).strftime("%H:%M"),
    ) == (
        "2018-05-22 12:15",
        "13:30",
    )


async def test_apia_across_the_skipped_day(client: Client, clock: FakeClock) -> None:
    clock.now = datetime(2011, 1, 1, tzinfo=UTC)
    before = await create(
        client, timezone="Pacific/Apia", start="2011-12-29T12:00", end="2011-12-29T13:00"
    )
    after = await create(
        client, timezone="Pacific/Apia", start="2011-12-31T12:00", end="2011-12-31T13:00"
    )
    assert before["start_utc"] == "2011-12-29T22:00:00Z"
    assert after["start_utc"] == "2011-12-30T22:00:00Z"
    text = await feed(client)
    found = icaljs_instants(with_icaljs(text))
    assert found[f"{before['id']}@broadcast-scheduler.local"][0] == utc("2011-12-29T22:00")
    assert found[f"{after['id']}@broadcast-scheduler.local"][0] == utc("2011-12-30T22:00")
    assert with_ha_ical(text)[f"{after['id']}@broadcast-scheduler.local"][0] == utc(
        "2011-12-30T22:00"
    )


async def test_text_survives_a_round_trip(client: Client, early_clock: FakeClock) -> None:
    event = await create(
        client,
        title=TRICKY_TEXT.replace("\n", " "),
        description=TRICKY_TEXT + " " + "long " * 40,
        location="Bâtiment Paul-Henri Spaak, Bruxelles; salle 3",
    )
    text = await feed(client)
    cal = Calendar.from_ical(text)
    vevent = cal.walk("VEVENT")[0]
    assert str(vevent["SUMMARY"]) == event["title"]
    assert str(vevent["DESCRIPTION"]) == event["description"]
    assert str(vevent["LOCATION"]) == event["location"]
    ha = IcsCalendarStream.calendar_from_ics(text).events[0]
    assert ha.summary == event["title"]
    assert ha.description == event["description"]
    js = with_icaljs(text)["events"][0]
    assert js["summary"] == event["title"]
    assert js["description"] == event["description"]
    assert js["location"] == event["location"]


async def test_lines_are_folded_to_75_octets_with_crlf(
    client: Client, early_clock: FakeClock
) -> None:
    await create(client, title="é" * 150, description="🎥" * 100 + TRICKY_TEXT)
    raw = await (await client.get("/calendar.ics")).read()
    assert raw.endswith(b"\r\n")
    lines = raw.split(b"\r\n")[:-1]
    assert b"\n" not in b"".join(lines) and b"\r" not in b"".join(lines)
    for line in lines:
        assert len(line) <= 75, line
        line.decode("utf-8")  # never a character split across a fold
    assert any(line.startswith(b" ") for line in lines)  # folding happened


async def test_calendar_properties_and_vevent_contents(
    client: Client, early_clock: FakeClock
) -> None:
    event = await create(
        client,
        stream_url="https://www.europarl.europa.eu/live",
        location="Brussels",
        channel="plenary",
        reminders=[60, 15, 0],
    )
    text = await feed(client)
    cal = Calendar.from_ical(text)
    for name, value in [
        ("VERSION", "2.0"),
        ("CALSCALE", "GREGORIAN"),
        ("X-WR-CALNAME", "Live webstreams"),
        ("NAME", "Live webstreams"),
        ("X-PUBLISHED-TTL", "PT1H"),
    ]:
        assert cal[name].to_ical().decode() == value, name
    assert "REFRESH-INTERVAL;VALUE=DURATION:PT1H" in text
    assert "PRODID:-//broadcast-scheduler//" in text
    assert "METHOD" not in cal  # a feed is no iTIP message: METHOD would demand ORGANIZERs
    assert [tz["TZID"] for tz in cal.walk("VTIMEZONE")] == ["Europe/Brussels"]

    vevent = cal.walk("VEVENT")[0]
    assert str(vevent["UID"]) == f"{event['id']}@broadcast-scheduler.local"
    assert "DTSTART;TZID=Europe/Brussels:20180522T181500" in text
    assert "DTEND;TZID=Europe/Brussels:20180522T193000" in text
    assert str(vevent["STATUS"]) == "CONFIRMED"
    assert str(vevent["URL"]) == "https://www.europarl.europa.eu/live"
    conference = vevent["CONFERENCE"]
    assert str(conference) == "https://www.europarl.europa.eu/live"
    assert conference.params["FEATURE"] == "VIDEO" and conference.params["VALUE"] == "URI"
    triggers = sorted(a["TRIGGER"].dt for a in vevent.walk("VALARM"))
    assert triggers == [timedelta(minutes=-60), timedelta(minutes=-15), timedelta(0)]
    assert "TRIGGER:-PT15M" in text
    assert {str(a["ACTION"]) for a in vevent.walk("VALARM")} == {"DISPLAY"}
    # never a floating time: every event time carries a TZID or is UTC
    for item in cal.walk("VEVENT"):
        assert item["DTSTART"].dt.tzinfo is not None and item["DTEND"].dt.tzinfo is not None


async def test_empty_feed_is_valid(client: Client, early_clock: FakeClock) -> None:
    text = await feed(client)
    assert "BEGIN:VTIMEZONE" in text and "TZID:UTC" in text
    assert with_icalendar(text) == {}
    assert with_ha_ical(text) == {}
    assert with_icaljs(text)["events"] == []


async def test_changes_raise_sequence_and_keep_uid(client: Client, early_clock: FakeClock) -> None:
    event = await create(client)
    path = f"/events/{event['id']}.ics"
    first = Calendar.from_ical(await feed(client, path)).walk("VEVENT")[0]
    early_clock.advance(minutes=3)
    await client.patch(
        f"/api/events/{event['id']}", json={"start": "2018-05-22T18:30"}, headers=AUTH
    )
    second = Calendar.from_ical(await feed(client, path)).walk("VEVENT")[0]
    assert second["UID"] == first["UID"]
    assert int(second["SEQUENCE"]) == int(first["SEQUENCE"]) + 1
    assert second["LAST-MODIFIED"].dt > first["LAST-MODIFIED"].dt
    assert second["DTSTART"].dt.strftime("%H:%M") == "18:30"

    await client.post(f"/api/events/{event['id']}/cancel", headers=AUTH)
    text = await feed(client)
    cancelled = Calendar.from_ical(text).walk("VEVENT")[0]
    assert str(cancelled["STATUS"]) == "CANCELLED"
    assert int(cancelled["SEQUENCE"]) == int(second["SEQUENCE"]) + 1
    assert with_icaljs(text)["events"][0]["status"] == "CANCELLED"


async def test_cancelled_events_leave_the_feed_after_the_retention(
    client: Client, early_clock: FakeClock
) -> None:
    event = await create(client)
    await client.post(f"/api/events/{event['id']}/cancel", headers=AUTH)
    assert event["id"] in await feed(client)
    early_clock.advance(days=31)
    assert event["id"] not in await feed(client)


async def test_past_window(client: Client, clock: FakeClock) -> None:
    clock.now = datetime(2018, 6, 1, tzinfo=UTC)
    recent = await create(client, title="recent")  # 2018-05-22: within 30 days
    old = await create(client, title="old", start="2018-04-01T10:00", end="2018-04-01T11:00")
    text = await feed(client)
    assert recent["id"] in text and old["id"] not in text
    clock.advance(days=30)
    assert recent["id"] not in await feed(client)  # aged out without any change


async def test_revalidation_with_etag_and_last_modified(
    client: Client, early_clock: FakeClock
) -> None:
    event = await create(client)
    resp = await client.get("/calendar.ics")
    etag, modified = resp.headers["ETag"], resp.headers["Last-Modified"]
    body = await resp.read()
    assert etag.startswith('"') and not etag.startswith("W/")
    assert "max-age=" in resp.headers["Cache-Control"]
    assert resp.headers["Content-Disposition"] == 'inline; filename="webstreams.ics"'

    again = await client.get("/calendar.ics")
    assert await again.read() == body  # byte-identical while nothing changes
    assert again.headers["ETag"] == etag

    not_modified = await client.get("/calendar.ics", headers={"If-None-Match": etag})
    assert not_modified.status == 304
    assert await not_modified.read() == b""
    assert not_modified.headers["ETag"] == etag
    by_date = await client.get("/calendar.ics", headers={"If-Modified-Since": modified})
    assert by_date.status == 304

    early_clock.advance(minutes=1)
    await client.patch(f"/api/events/{event['id']}", json={"title": "Moved"}, headers=AUTH)
    changed = await client.get("/calendar.ics", headers={"If-None-Match": etag})
    assert changed.status == 200
    assert changed.headers["ETag"] != etag
    assert "SUMMARY:Moved" in (await changed.read()).decode()
    by_date = await client.get("/calendar.ics", headers={"If-Modified-Since": modified})
    assert by_date.status == 200


async def test_head_and_channels(client: Client, early_clock: FakeClock) -> None:
    plenary = await create(client, channel="plenary", title="plenary one")
    committee = await create(client, channel="committee", title="committee one")
    head = await client.head("/calendar.ics")
    assert head.status == 200
    assert int(head.headers["Content-Length"]) > 0
    assert await head.read() == b""
    for path in ("/calendar.ics?channel=plenary", "/channels/plenary/calendar.ics"):
        text = await feed(client, path)
        assert plenary["id"] in text and committee["id"] not in text
        assert "X-WR-CALNAME:Live webstreams: plenary" in text
    assert (await client.get("/calendar.ics?channel=Bad Name!")).status == 400
    assert (await client.get("/events/nope.ics")).status == 404
    head = await client.head(f"/events/{plenary['id']}.ics")
    assert head.status == 200


async def test_subscribe_links(client: Client, early_clock: FakeClock) -> None:
    event = await create(client, stream_url="https://ep.example/live")
    links = event["links"]
    assert links["ics"].endswith(f"/events/{event['id']}.ics")
    assert links["webcal"].startswith("webcal://127.0.0.1:")
    assert "calendar.google.com/calendar/render?action=TEMPLATE" in links["google_calendar"]
    assert "dates=20180522T161500Z%2F20180522T173000Z" in links["google_calendar"]
    assert (
        "outlook.live.com" in links["outlook"]
        and "startdt=2018-05-22T16%3A15%3A00Z" in links["outlook"]
    )
    assert (await client.get(urlsplit(links["ics"]).path)).status == 200
    calendar = await (await client.get("/api/calendar", params={"channel": "plenary"})).json()
    assert calendar["links"]["webcal"].endswith("/channels/plenary/calendar.ics")
    assert calendar["links"]["google_subscribe"].startswith(
        "https://calendar.google.com/calendar/r?cid=webcal%3A%2F%2F"
    )


async def test_revalidation_costs_no_rendering(client: Client, early_clock: FakeClock) -> None:
    from scheduler.http.keys import FEEDS

    await create(client)
    feeds = client.app[FEEDS]
    first = await client.get("/calendar.ics")
    renders = feeds.renders
    for _ in range(20):
        resp = await client.get("/calendar.ics", headers={"If-None-Match": first.headers["ETag"]})
        assert resp.status == 304
    assert feeds.renders == renders
    assert feeds.cache_hits >= 20
