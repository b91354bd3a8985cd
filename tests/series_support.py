"""Shared by the series tests: creating a series over HTTP, listing its
occurrences through the events API, and expanding a feed with the three
readers (recurring-ical-events, Home Assistant's ``ical``, ical.js)."""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import recurring_ical_events
from aiohttp.test_utils import TestClient
from icalendar import Calendar

from tests.conftest import AUTH

Client = TestClient[Any, Any]
INTEROP = Path(__file__).parent / "interop"
#: (start, end) UTC instants of one occurrence
Span = tuple[datetime, datetime]


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


async def create_series(client: Client, **fields: Any) -> dict[str, Any]:
    body = {"title": "EP plenary", "timezone": "Europe/Brussels", "reminders": [], **fields}
    resp = await client.post("/api/series", json=body, headers=AUTH)
    assert resp.status == 201, await resp.text()
    series: dict[str, Any] = await resp.json()
    return series


async def occurrences(client: Client, series_id: str) -> list[dict[str, Any]]:
    """Every occurrence of the series, by start, through ``GET /api/events?series=``."""
    found: list[dict[str, Any]] = []
    cursor = None
    while True:
        params = {"series": series_id, "limit": "500"}
        if cursor:
            params["cursor"] = cursor
        resp = await client.get("/api/events", params=params)
        assert resp.status == 200, await resp.text()
        page = await resp.json()
        found.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return found


def spans(events: list[dict[str, Any]]) -> list[Span]:
    """The UTC spans of the occurrences that happen (not cancelled), sorted."""
    return sorted(
        (utc(e["start_utc"]), utc(e["end_utc"])) for e in events if e["status"] != "cancelled"
    )


async def feed(client: Client) -> str:
    resp = await client.get("/calendar.ics")
    assert resp.status == 200
    return await resp.text()


def _in(span: Span, window: Span) -> bool:
    return span[1] > window[0] and span[0] < window[1]


def with_recurring_ical_events(text: str, window: Span) -> list[Span]:
    cal = Calendar.from_ical(text)
    found = []
    for item in recurring_ical_events.of(cal).between(window[0], window[1]):
        if str(item.get("STATUS", "CONFIRMED")) == "CANCELLED":
            continue
        found.append((item["DTSTART"].dt.astimezone(UTC), item["DTEND"].dt.astimezone(UTC)))
    return sorted(s for s in found if _in(s, window))


def with_ha_ical(text: str, window: Span) -> list[Span]:
    from ical.calendar_stream import IcsCalendarStream
    from ical.event import EventStatus

    calendar = IcsCalendarStream.calendar_from_ics(text)
    found = []
    for item in calendar.timeline_tz(UTC).overlapping(window[0], window[1]):
        if item.status == EventStatus.CANCELLED:
            continue
        start, end = item.start, item.end
        assert isinstance(start, datetime) and isinstance(end, datetime)
        found.append((start.astimezone(UTC), end.astimezone(UTC)))
    return sorted(s for s in found if _in(s, window))


def with_icaljs(text: str, window: Span) -> list[Span]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("ical.js interop needs node (it runs in CI)")
    if not (INTEROP / "node_modules" / "ical.js").exists():
        pytest.skip("ical.js is not installed: run `npm ci --prefix tests/interop`")
    result = subprocess.run(
        [node, str(INTEROP / "expand_ical.mjs"), window[0].isoformat(), window[1].isoformat()],
        input=text,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    found = [
        (utc(o["start_utc"]), utc(o["end_utc"]))
        for o in json.loads(result.stdout)
        if o["status"] != "CANCELLED"
    ]
    return sorted(s for s in found if _in(s, window))


READERS = {
    "recurring-ical-events": with_recurring_ical_events,
    "ha-ical": with_ha_ical,
    "ical.js": with_icaljs,
}


def local_dates(events: list[dict[str, Any]]) -> list[date]:
    return [datetime.fromisoformat(e["start"]).date() for e in events]
