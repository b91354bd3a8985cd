"""Every calendar reader we test sees the instants the tz database gives, in every hard case.

Readers: icalendar (+ recurring-ical-events), Home Assistant's ``ical``, ical.js
(Thunderbird) under node, and libical (GNOME Evolution) through a small C
program (``tests/interop/libical_instants.c``, built here against Debian's
``libical-dev``). The reference is the standard library's ``zoneinfo`` with the
tz database's rules, which run past 2037. Cases: both occurrences of a repeated
hour (ical.js and libical read a wall time there as the second one), an event
that starts before and ends after it, a 30-minute DST zone, negative DST,
years after 2037, and text with every character class. Each reader reads the
feed and each event's own file; libical's RFC 5546 restriction check must
come back clean.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from icalendar import Calendar, vText

from tests.conftest import AUTH, FakeClock
from tests.integration.test_calendar import (
    icaljs_instants,
    with_ha_ical,
    with_icalendar,
    with_icaljs,
)

Client = TestClient[Any, Any]
INTEROP = Path(__file__).parents[1] / "interop"
Instants = dict[str, tuple[datetime, datetime]]

# (zone, start as sent, end as sent): the hard cases
CASES = [
    ("Europe/Brussels", "2027-10-31T02:15+02:00", "2027-10-31T03:30"),  # first 02:15
    ("Europe/Brussels", "2027-10-31T02:15+01:00", "2027-10-31T04:00"),  # second 02:15
    ("Europe/Brussels", "2027-10-31T01:30", "2027-10-31T03:30"),  # across the repeated hour
    ("Europe/Brussels", "2027-10-31T01:00", "2027-10-31T02:30+02:00"),  # ends in its first pass
    ("Europe/Brussels", "2027-03-28T01:30", "2027-03-28T03:30"),  # across the skipped hour
    ("Australia/Lord_Howe", "2027-04-04T01:45+11:00", "2027-04-04T03:00"),  # 30-min fold, first
    ("Australia/Lord_Howe", "2027-04-04T01:45+10:30", "2027-04-04T03:00"),  # and second
    ("Europe/Dublin", "2027-01-15T18:00", "2027-01-15T19:00"),  # negative DST (winter)
    ("Europe/Dublin", "2027-07-15T18:00", "2027-07-15T19:00"),
    ("Africa/Casablanca", "2027-02-20T18:00", "2027-02-20T19:00"),  # Ramadan: +00
    ("Europe/Brussels", "2038-07-01T18:00", "2038-07-01T19:30"),  # after pytz's 2037
    ("Europe/Brussels", "2038-10-31T02:30+02:00", "2038-10-31T03:30"),
    ("America/New_York", "2099-07-01T12:00", "2099-07-01T13:00"),
    ("Pacific/Auckland", "2150-01-10T09:00", "2150-01-10T10:00"),
]


def reference(zone: str, text: str) -> datetime:
    """The instant ``text`` means in ``zone`` by zoneinfo alone (offset settles a fold)."""
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is not None:
        return parsed.astimezone(UTC)
    return parsed.replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)


@pytest.fixture(scope="session")
def libical(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The libical reader, compiled for this run (skipped where libical is missing)."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None or not Path("/usr/include/libical/ical.h").exists():
        pytest.skip("libical interop needs a C compiler and libical-dev (.ci/run installs it)")
    binary = tmp_path_factory.mktemp("libical") / "libical_instants"
    subprocess.run(
        [cc, "-O1", "-o", str(binary), str(INTEROP / "libical_instants.c"), "-lical"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return binary


def with_libical(binary: Path, text: str) -> dict[str, Any]:
    run = subprocess.run(
        [str(binary)], input=text, capture_output=True, text=True, timeout=60, check=True
    )
    parsed: dict[str, Any] = json.loads(run.stdout)
    return parsed


def libical_instants(parsed: dict[str, Any]) -> Instants:
    return {
        e["uid"]: (
            datetime.fromtimestamp(e["start"], UTC),
            datetime.fromtimestamp(e["end"], UTC),
        )
        for e in parsed["events"]
    }


@pytest.fixture
def early_clock(clock: FakeClock) -> FakeClock:
    clock.now = datetime(2026, 1, 1, tzinfo=UTC)
    return clock


async def create(client: Client, zone: str, start: str, end: str, **fields: Any) -> dict[str, Any]:
    body = {"title": f"{zone} {start}", "timezone": zone, "start": start, "end": end, **fields}
    resp = await client.post("/api/events", json=body, headers=AUTH)
    assert resp.status == 201, await resp.text()
    event: dict[str, Any] = await resp.json()
    return event


async def text_of(client: Client, path: str) -> str:
    resp = await client.get(path)
    assert resp.status == 200, await resp.text()
    return (await resp.read()).decode("utf-8")


def every_reader(text: str, binary: Path) -> dict[str, Instants]:
    libical = with_libical(binary, text)
    assert libical["errors"] == [], libical["errors"]  # restriction check clean
    return {
        "icalendar": with_icalendar(text),
        "ha-ical": with_ha_ical(text),
        "ical.js": icaljs_instants(with_icaljs(text)),
        "libical": libical_instants(libical),
    }


async def test_every_reader_agrees_with_the_tz_database(
    client: Client, early_clock: FakeClock, libical: Path
) -> None:
    expected: Instants = {}
    for zone, start, end in CASES:
        event = await create(client, zone, start, end)
        want = (reference(zone, start), reference(zone, end))
        assert (event["start_utc"], event["end_utc"]) == tuple(
            t.strftime("%Y-%m-%dT%H:%M:%SZ") for t in want
        ), (zone, start)
        uid = f"{event['id']}@broadcast-scheduler.local"
        expected[uid] = want
        own = every_reader(await text_of(client, f"/events/{event['id']}.ics"), libical)
        for reader, found in own.items():
            assert found == {uid: want}, (reader, zone, start)
    for reader, found in every_reader(await text_of(client, "/calendar.ics"), libical).items():
        assert found == expected, reader


async def test_times_after_2037_follow_the_rules_of_the_tz_database(client: Client) -> None:
    summer = await create(client, "Europe/Brussels", "2038-07-01T18:00", "2038-07-01T19:00")
    assert summer["start_utc"] == "2038-07-01T16:00:00Z"  # pytz said 17:00Z
    assert summer["start"] == "2038-07-01T18:00:00+02:00"
    for start, phrase in [
        ("2038-03-28T02:30", "does not exist"),
        ("2038-10-31T02:30", "ambiguous"),
        ("2121-03-30T02:30", "does not exist"),
    ]:
        resp = await client.post(
            "/api/events",
            json={
                "title": "x",
                "timezone": "Europe/Brussels",
                "start": start,
                "end": "2199-01-01T00:00",
            },
            headers=AUTH,
        )
        assert resp.status == 422, start
        assert phrase in (await resp.json())["detail"], start


async def test_repeated_hour_instants_are_written_in_utc(
    client: Client, early_clock: FakeClock
) -> None:
    first = await create(
        client, "Europe/Brussels", "2027-10-31T02:15+02:00", "2027-10-31T02:45+02:00"
    )
    text = await text_of(client, f"/events/{first['id']}.ics")
    assert "DTSTART:20271031T001500Z" in text
    assert "DTEND:20271031T004500Z" in text
    plain = await create(client, "Europe/Brussels", "2027-10-30T18:15", "2027-10-30T19:30")
    text = await text_of(client, f"/events/{plain['id']}.ics")
    assert "DTSTART;TZID=Europe/Brussels:20271030T181500" in text


TEXTS = [
    'Plenary, vote; a\\b: "quoted" 🎥',
    "Débat — «Zuckerberg» 日本語 العربية עברית",
    "Separators ,;:\\ and 🎥 in one line",
]


@pytest.mark.parametrize("title", TEXTS)
async def test_text_of_every_class_reads_back_exactly(
    client: Client, early_clock: FakeClock, libical: Path, title: str
) -> None:
    description = f"{title}\nsecond line\n\n\ttabbed, with a tab"
    event = await create(
        client,
        "Europe/Brussels",
        "2027-05-22T18:15",
        "2027-05-22T19:30",
        title=title,
        description=description,
        location=title,
    )
    for path in (f"/events/{event['id']}.ics", "/calendar.ics"):
        text = await text_of(client, path)
        cal = Calendar.from_ical(text)
        vevent = cal.walk("VEVENT")[0]
        assert str(vevent["SUMMARY"]) == title
        assert str(vevent["LOCATION"]) == title
        assert str(vevent["DESCRIPTION"]).startswith(description)
        if path.startswith("/events/"):
            # the per-event calendar is named after it, escaped as TEXT (RFC 7986)
            unfolded = text.replace("\r\n ", "")
            escaped = vText(title).to_ical().decode()
            assert f"\r\nNAME:{escaped}\r\n" in unfolded
            assert f"\r\nX-WR-CALNAME:{escaped}\r\n" in unfolded
            assert str(cal["X-WR-TIMEZONE"]) == "UTC"  # as the feed: readers keep UTC times
        assert with_icaljs(text)["events"][0]["summary"] == title
        assert with_libical(libical, text)["events"][0]["summary"] == title


ZONES = [
    "Europe/Brussels",
    "America/New_York",
    "Australia/Lord_Howe",
    "Africa/Casablanca",
    "Europe/Dublin",
    "America/Santiago",
    "Asia/Tehran",
    "Pacific/Chatham",
    "America/St_Johns",
    "Antarctica/Troll",
]


def _changes(zone: str) -> list[datetime]:
    """UTC instants of the zone's clock changes 1970-2199 (daily samples, exact enough)."""
    tz, found = ZoneInfo(zone), []
    day = datetime(1970, 1, 1, tzinfo=UTC)
    while day.year < 2199:
        nxt = day + timedelta(days=1)
        if day.astimezone(tz).utcoffset() != nxt.astimezone(tz).utcoffset():
            found.append(day)
        day = nxt
    return found or [datetime(2000, 1, 1, tzinfo=UTC)]


CHANGES = {zone: _changes(zone) for zone in ZONES}


@st.composite
def instants_in_zones(draw: st.DrawFn) -> tuple[str, datetime]:
    zone = draw(st.sampled_from(ZONES))
    near_change = draw(st.booleans())
    if near_change:
        base = draw(st.sampled_from(CHANGES[zone]))
        instant = base + timedelta(minutes=draw(st.integers(0, 48 * 60)))
    else:
        instant = draw(
            st.datetimes(
                min_value=datetime(1970, 1, 2),
                max_value=datetime(2199, 12, 1),
                timezones=st.just(UTC),
            )
        )
    return zone, instant.replace(second=0, microsecond=0)


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(picks=st.lists(instants_in_zones(), min_size=6, max_size=6))
async def test_random_instants_read_right_by_ical_js_and_libical(
    client: Client, libical: Path, picks: list[tuple[str, datetime]]
) -> None:
    expected: Instants = {}
    for zone, instant in picks:
        # the wall time with its offset: exactly this instant, folds included
        local = instant.astimezone(ZoneInfo(zone))
        end = (instant + timedelta(minutes=50)).astimezone(ZoneInfo(zone))
        event = await create(
            client, zone, local.isoformat(timespec="minutes"), end.isoformat(timespec="minutes")
        )
        assert event["start_utc"] == instant.strftime("%Y-%m-%dT%H:%M:%SZ"), (zone, instant)
        expected[f"{event['id']}@broadcast-scheduler.local"] = (
            instant,
            instant + timedelta(minutes=50),
        )
    for event_id in [uid.split("@")[0] for uid in expected]:
        text = await text_of(client, f"/events/{event_id}.ics")
        uid = f"{event_id}@broadcast-scheduler.local"
        assert icaljs_instants(with_icaljs(text)) == {uid: expected[uid]}
        assert libical_instants(with_libical(libical, text)) == {uid: expected[uid]}
