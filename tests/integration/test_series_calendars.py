"""The feed's series expand, in three calendar readers, to exactly the occurrences
the API lists: same UTC instants, none twice, a moved occurrence once at its
new time, over more than a year with both DST changes, skipped and repeated
hours included. And a property test: for random zones, rules and first starts,
recurring-ical-events' expansion of our feed equals the API's occurrences."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from dateutil.rrule import rrulestr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import AUTH, FakeClock
from tests.series_support import (
    READERS,
    Client,
    create_series,
    feed,
    occurrences,
    spans,
    with_recurring_ical_events,
)

WINDOW = (datetime(2027, 1, 1, tzinfo=UTC), datetime(2028, 1, 31, tzinfo=UTC))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2027, 1, 1, 12, 0, tzinfo=UTC))


async def _schedule(client: Client) -> list[dict[str, Any]]:
    """A weekly plenary with a moved, a renamed and a cancelled occurrence and a
    pause; a Sunday 02:30 stream across both clock changes; a one-off event."""
    weekly = await create_series(
        client,
        title="Plenary",
        start="2027-01-05T18:15",
        end="2027-01-05T19:30",
        rrule="FREQ=WEEKLY;BYDAY=TU",
    )
    found = await occurrences(client, weekly["id"])
    moves = {
        3: {"start": "2027-01-27T09:00", "end": "2027-01-27T10:00"},  # to a Wednesday
        5: {"title": "Plenary (extraordinary)"},
        30: {"start": "2027-08-03T21:00", "end": "2027-08-03T22:15"},  # summer time
    }
    for index, body in moves.items():
        resp = await client.patch(f"/api/events/{found[index]['id']}", json=body, headers=AUTH)
        assert resp.status == 200, await resp.text()
    resp = await client.post(f"/api/events/{found[8]['id']}/cancel", headers=AUTH)
    assert resp.status == 200
    resp = await client.post(
        f"/api/series/{weekly['id']}/pauses",
        json={"start": "2027-07-12", "end": "2027-07-25", "reason": "Summer"},
        headers=AUTH,
    )
    assert resp.status == 201
    night = await create_series(
        client,
        title="Night stream",
        start="2027-03-21T02:30",
        end="2027-03-21T03:15",
        rrule="FREQ=WEEKLY;BYDAY=SU;UNTIL=20271201T000000Z",
    )
    resp = await client.post(
        "/api/events",
        json={
            "title": "One-off",
            "timezone": "Europe/Brussels",
            "start": "2027-06-01T10:00",
            "end": "2027-06-01T11:00",
        },
        headers=AUTH,
    )
    assert resp.status == 201
    events = await occurrences(client, weekly["id"]) + await occurrences(client, night["id"])
    return [*events, await resp.json()]


@pytest.mark.parametrize("reader", list(READERS))
async def test_every_reader_expands_the_feed_to_the_api_occurrences(
    client: Client, reader: str
) -> None:
    events = await _schedule(client)
    expected = [s for s in spans(events) if s[1] > WINDOW[0] and s[0] < WINDOW[1]]
    # the hard instances are in: Sunday 28 March 02:30 (skipped) and 31 October (repeated)
    starts = {s[0] for s in expected}
    assert datetime(2027, 3, 28, 1, 30, tzinfo=UTC) in starts
    assert datetime(2027, 10, 31, 0, 30, tzinfo=UTC) in starts
    assert datetime(2027, 1, 27, 8, 0, tzinfo=UTC) in starts  # the moved one, once
    assert datetime(2027, 1, 26, 17, 15, tzinfo=UTC) not in starts
    found = READERS[reader](await feed(client), WINDOW)
    assert found == expected


ZONES = ["Europe/Brussels", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata", "UTC"]
DAYS = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]


@st.composite
def rules(draw: st.DrawFn) -> tuple[str, str, datetime]:
    zone = draw(st.sampled_from(ZONES))
    freq = draw(st.sampled_from(["DAILY", "WEEKLY", "MONTHLY"]))
    parts = [f"FREQ={freq}"]
    if freq == "WEEKLY" and draw(st.booleans()):
        parts.append("BYDAY=" + ",".join(draw(st.sets(st.sampled_from(DAYS), min_size=1))))
    if freq == "MONTHLY":
        if draw(st.booleans()):
            parts.append(f"BYMONTHDAY={draw(st.integers(1, 28))}")
        else:
            parts.append(
                f"BYDAY={draw(st.sampled_from(['1', '2', '-1']))}{draw(st.sampled_from(DAYS))}"
            )
    if freq == "DAILY" and draw(st.booleans()):
        parts.append(f"INTERVAL={draw(st.integers(2, 5))}")
    day = datetime(2027, 1, 2) + timedelta(days=draw(st.integers(0, 200)))
    minutes = draw(st.sampled_from([0, 30, 150, 135, 18 * 60 + 15, 23 * 60 + 45]))
    # the start must be an occurrence: the rule's first one from a random day
    start: datetime = next(
        iter(rrulestr(";".join(parts), dtstart=day + timedelta(minutes=minutes)))
    )
    if draw(st.booleans()):
        parts.append(f"COUNT={draw(st.integers(1, 40))}")
    else:
        until = start.replace(tzinfo=UTC) + timedelta(days=draw(st.integers(2, 200)))
        parts.append(f"UNTIL={until:%Y%m%dT%H%M%SZ}")
    return zone, ";".join(parts), start


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=rules())
async def test_property_api_equals_recurring_ical_events(
    client: Client, case: tuple[str, str, datetime]
) -> None:
    zone, rule, start = case
    body = {
        "title": "Random",
        "timezone": zone,
        "start": start.isoformat(timespec="minutes"),
        "end": (start + timedelta(minutes=50)).isoformat(timespec="minutes"),
        "rrule": rule,
    }
    resp = await client.post("/api/series", json=body, headers=AUTH)
    assert resp.status == 201, await resp.text()
    series = await resp.json()
    try:
        window = (datetime(2026, 12, 1, tzinfo=UTC), datetime(2028, 2, 1, tzinfo=UTC))
        expected = [
            s
            for s in spans(await occurrences(client, series["id"]))
            if s[1] > window[0] and s[0] < window[1]
        ]
        assert with_recurring_ical_events(await feed(client), window) == expected
    finally:
        resp = await client.delete(f"/api/series/{series['id']}", headers=AUTH)
        assert resp.status == 204


@pytest.mark.parametrize("reader", list(READERS))
async def test_readers_agree_after_a_change_of_time_and_zone_mid_series(
    client: Client, clock: FakeClock, reader: str
) -> None:
    """Past occurrences keep their times (events of their own in the feed), future
    ones follow the new time and zone; a moved exception keeps its own."""
    series = await create_series(
        client,
        title="Weekly",
        start="2027-01-05T18:15",
        end="2027-01-05T19:30",
        rrule="FREQ=WEEKLY;BYDAY=TU;COUNT=40",
    )
    found = await occurrences(client, series["id"])
    resp = await client.patch(
        f"/api/events/{found[20]['id']}",
        json={"start": "2027-05-26T09:00", "end": "2027-05-26T10:00"},
        headers=AUTH,
    )
    assert resp.status == 200
    clock.now = datetime(2027, 3, 1, tzinfo=UTC)
    resp = await client.patch(
        f"/api/series/{series['id']}",
        json={"timezone": "Europe/London", "start": "2027-01-05T20:00", "end": "2027-01-05T21:00"},
        headers=AUTH,
    )
    assert resp.status == 200, await resp.text()
    events = await occurrences(client, series["id"])
    starts = [e["start"] for e in events]
    assert starts[0] == "2027-01-05T18:15:00+01:00"  # the past as it was
    assert "2027-03-02T20:00:00+00:00" in starts and "2027-04-06T20:00:00+01:00" in starts
    assert "2027-05-26T09:00:00+02:00" in starts  # the exception, as moved
    expected = [s for s in spans(events) if s[1] > WINDOW[0] and s[0] < WINDOW[1]]
    assert len(expected) == 40
    assert READERS[reader](await feed(client), WINDOW) == expected
