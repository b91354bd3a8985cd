"""POST /api/import with calendar files written the way Google Calendar and
Outlook write them, on SQLite and PostgreSQL: what is created, found again,
updated, pruned and refused, and that the imported events come out of our feed
at the instants the source file means."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import icalendar
import pytest
import recurring_ical_events
from aiohttp.test_utils import TestClient

from scheduler.http.app import create_app
from tests.conftest import AUTH, FakeClock, make_settings

Client = TestClient[Any, Any]
FIXTURES = Path(__file__).parent.parent / "fixtures"
GOOGLE = (FIXTURES / "google_export.ics").read_bytes()
OUTLOOK = (FIXTURES / "outlook_export.ics").read_bytes()
CALENDAR = {**AUTH, "Content-Type": "text/calendar"}
PLENARY_UID = "3q2v0t8k1m9vq0p6f3b1d5s2jc@google.com"


async def import_file(client: Client, data: bytes, query: str = "") -> dict[str, Any]:
    resp = await client.post(f"/api/import{query}", data=data, headers=CALENDAR)
    assert resp.status == 200, await resp.text()
    body: dict[str, Any] = await resp.json()
    return body


async def all_events(client: Client) -> list[dict[str, Any]]:
    resp = await client.get("/api/events?limit=500")
    assert resp.status == 200
    items: list[dict[str, Any]] = (await resp.json())["items"]
    return items


def reasons(report: dict[str, Any]) -> dict[str, str]:
    return {s["uid"]: s["reason"] for s in report["skipped_events"]}


async def test_google_export_becomes_events_at_the_files_instants(client: Client) -> None:
    report = await import_file(client, GOOGLE)
    # the weekly plenary becomes a series of six Tuesdays, whose occurrences then
    # follow the file: one moved (the override), one cancelled (EXDATE)
    assert len(report["series"]["created"]) == 1
    assert (report["created"], report["updated"], report["cancelled"]) == (1, 1, 1)
    skipped = reasons(report)
    assert "all-day" in skipped["0a9b8c7d6e5f4a3b2c1d0e9f8a@google.com"]
    assert "ended before the import" in skipped["5e4d3c2b1a0f9e8d7c6b5a4f3e@google.com"]
    assert report["skipped"] == 2

    scheduled = [e for e in await all_events(client) if e["status"] == "scheduled"]
    events = {(e["title"], e["start_utc"]): e for e in scheduled}
    assert sorted(events) == [
        ("Plenary session", "2018-05-22T16:15:00Z"),
        ("Plenary session", "2018-05-29T16:15:00Z"),
        ("Plenary session", "2018-06-19T16:15:00Z"),
        ("Plenary session", "2018-06-26T16:15:00Z"),
        ("Plenary session (late start)", "2018-06-12T18:00:00Z"),
        ("Press conference", "2018-05-30T16:00:00Z"),
    ]
    plenary = events[("Plenary session", "2018-05-22T16:15:00Z")]
    assert plenary["timezone"] == "Europe/Brussels"
    assert plenary["start"] == "2018-05-22T18:15:00+02:00"
    assert plenary["end"] == "2018-05-22T19:30:00+02:00"
    assert plenary["location"] == "Brussels, Paul-Henri Spaak building"
    assert plenary["description"] == "Weekly plenary webstream.\nInterpretation in 24 languages."
    assert [t["type"] for t in plenary["triggers"]][:2] == ["event.reminder", "event.reminder"]
    # Google writes single events in UTC; the calendar's X-WR-TIMEZONE gives their zone
    press = events[("Press conference", "2018-05-30T16:00:00Z")]
    assert press["timezone"] == "Europe/Brussels"
    assert press["start"] == "2018-05-30T18:00:00+02:00"
    assert press["stream_url"] == "https://meet.google.com/abc-defg-hij"
    assert report["ids"]["created"] == [press["id"]]
    series_id = report["series"]["created"][0]
    assert all(e["series_id"] == series_id for e in scheduled if e["id"] != press["id"])
    late = events[("Plenary session (late start)", "2018-06-12T18:00:00Z")]
    assert late["exception"] is True and report["ids"]["updated"] == [late["id"]]


async def test_outlook_export_reads_windows_zones_and_refuses_what_has_no_instant(
    client: Client,
) -> None:
    report = await import_file(client, OUTLOOK, "?channel=press")
    assert report["created"] == 2
    skipped = {s["reason"].split(" ")[0:3] and s["reason"] for s in report["skipped_events"]}
    assert any("all-day" in r for r in skipped), skipped
    assert any("floating time" in r for r in skipped), skipped
    events = {e["title"]: e for e in await all_events(client)}
    briefing = events["Midday briefing"]
    assert briefing["start_utc"] == "2018-05-24T10:00:00Z"  # 12:00 W. Europe summer time
    assert briefing["timezone"] in ("Europe/Berlin", "Europe/Brussels")
    assert briefing["start"] == "2018-05-24T12:00:00+02:00"
    assert briefing["channel"] == "press"
    dialogue = events["Transatlantic dialogue"]
    assert dialogue["timezone"] == "America/New_York"
    assert dialogue["start"] == "2018-06-07T09:30:00-04:00"
    assert dialogue["start_utc"] == "2018-06-07T13:30:00Z"
    assert dialogue["stream_url"] == "https://ep.example/live/transatlantic"
    assert dialogue["description"] == "Transatlantic dialogue, streamed from New York."


async def test_importing_the_same_file_twice_changes_nothing(client: Client) -> None:
    first = await import_file(client, GOOGLE)
    before = await all_events(client)
    again = await import_file(client, GOOGLE)
    assert (again["created"], again["updated"], again["unchanged"], again["cancelled"]) == (
        0,
        0,
        1,
        0,
    )
    assert again["ids"]["unchanged"] == first["ids"]["created"]
    assert again["series"]["unchanged"] == first["series"]["created"]
    assert await all_events(client) == before  # same sequence, same updated_at


def without_event(data: bytes, first_line: bytes) -> bytes:
    start = data.index(b"BEGIN:VEVENT\r\n" + first_line)
    end = data.index(b"END:VEVENT\r\n", start) + len(b"END:VEVENT\r\n")
    return data[:start] + data[end:]


async def test_an_edited_file_updates_what_changed_and_prunes_only_when_asked(
    client: Client,
) -> None:
    first = await import_file(client, GOOGLE)
    edited = GOOGLE.replace(b"SUMMARY:Press conference", b"SUMMARY:Press conference (moved)")
    edited = edited.replace(b"DTSTART:20180530T160000Z", b"DTSTART:20180530T170000Z")
    edited = edited.replace(b"DTEND:20180530T173000Z", b"DTEND:20180530T183000Z")
    # the moved plenary occurrence loses its override: back to the rule's 18:15
    edited = without_event(edited, b"DTSTART;TZID=Europe/Brussels:20180612T200000")

    report = await import_file(client, edited)
    assert (report["created"], report["updated"], report["unchanged"]) == (0, 2, 0)
    events = {e["id"]: e for e in await all_events(client)}
    moved = {events[i]["title"]: events[i] for i in report["ids"]["updated"]}
    press = moved["Press conference (moved)"]
    assert press["start"] == "2018-05-30T19:00:00+02:00"
    assert press["sequence"] == 1
    back = moved["Plenary session"]
    assert back["start"] == "2018-06-12T18:15:00+02:00"
    assert back["id"] in first["ids"]["updated"]  # the same occurrence, moved back

    gone = without_event(edited, b"DTSTART:20180530T170000Z")
    kept = await import_file(client, gone)
    assert kept["cancelled"] == 0 and kept["series"]["unchanged"] == first["series"]["created"]
    resp = await client.get(f"/api/events/{press['id']}")
    assert (await resp.json())["status"] == "scheduled"  # gone from the file; no prune asked

    other = await import_file(client, OUTLOOK, "?source=press-office")
    assert other["created"] == 2
    pruned = await import_file(client, gone, "?prune=true")
    assert pruned["cancelled"] == 1 and pruned["ids"]["cancelled"] == [press["id"]]
    resp = await client.get(f"/api/events/{press['id']}")
    assert (await resp.json())["status"] == "cancelled"
    # a prune keeps to its source: the other source's events stay as they were
    states = {e["title"]: e["status"] for e in await all_events(client)}
    assert states["Midday briefing"] == states["Transatlantic dialogue"] == "scheduled"


async def test_a_cancelled_occurrence_in_the_file_cancels_ours(client: Client) -> None:
    await import_file(client, GOOGLE)
    cancel = (
        b"BEGIN:VEVENT\r\nUID:" + PLENARY_UID.encode() + b"\r\n"
        b"RECURRENCE-ID;TZID=Europe/Brussels:20180619T181500\r\n"
        b"DTSTART;TZID=Europe/Brussels:20180619T181500\r\n"
        b"DTEND;TZID=Europe/Brussels:20180619T193000\r\n"
        b"STATUS:CANCELLED\r\nSUMMARY:Plenary session\r\nEND:VEVENT\r\nEND:VCALENDAR"
    )
    report = await import_file(client, GOOGLE.replace(b"END:VCALENDAR", cancel))
    assert report["cancelled"] == 1
    cancelled = [e for e in await all_events(client) if e["status"] == "cancelled"]
    # the EXDATE's Tuesday, cancelled at the first import, and this one
    assert [e["start_utc"] for e in cancelled] == ["2018-06-05T16:15:00Z", "2018-06-19T16:15:00Z"]


async def test_imported_events_are_in_our_feed_at_the_sources_instants(
    client: Client, clock: FakeClock
) -> None:
    await import_file(client, GOOGLE)
    await import_file(client, OUTLOOK, "?source=outlook")
    feed = await (await client.get("/calendar.ics")).read()

    def instants(data: bytes) -> set[tuple[datetime, datetime]]:
        calendar = icalendar.Calendar.from_ical(data)
        window = (clock.now, clock.now + timedelta(days=400))
        found = set()
        for event in recurring_ical_events.of(calendar).between(*window):
            start, end = event.decoded("DTSTART"), event.decoded("DTEND")
            if not isinstance(start, datetime) or start.tzinfo is None:
                continue  # all-day and floating: not imported, with a reason
            if str(event.get("STATUS", "")).upper() == "CANCELLED":
                continue
            found.add((start.astimezone(UTC), end.astimezone(UTC)))
        return found

    assert instants(feed) == instants(GOOGLE) | instants(OUTLOOK)
    assert len(instants(feed)) == 8


@pytest.mark.parametrize(
    ("query", "headers", "data", "status", "says"),
    [
        ("", {"Content-Type": "text/calendar"}, GOOGLE, 401, "API token"),
        ("", CALENDAR, b"this is not a calendar", 400, "iCalendar"),
        ("", CALENDAR, b"", 400, "empty"),
        ("", {**AUTH, "Content-Type": "application/json"}, b"{}", 415, "text/calendar"),
        ("?source=Not%20A%20Name", CALENDAR, GOOGLE, 422, "source"),
        ("?prune=perhaps", CALENDAR, GOOGLE, 422, "prune"),
        ("?channel=..", CALENDAR, GOOGLE, 422, "channel"),
        (
            "",
            CALENDAR,
            GOOGLE.replace(b"BEGIN:VEVENT", b"BEGIN:VEVENT\r\nX:" + b"a" * 5000),
            413,
            "import_max_bytes",
        ),
    ],
)
async def test_bad_imports_answer_a_problem_and_store_nothing(
    aiohttp_client: Any,
    tmp_path: Path,
    database_url: str,
    clock: FakeClock,
    query: str,
    headers: dict[str, str],
    data: bytes,
    status: int,
    says: str,
) -> None:
    settings = make_settings(tmp_path, database_url, import_max_bytes=16384)
    client = await aiohttp_client(create_app(settings, clock=clock))
    resp = await client.post(f"/api/import{query}", data=data, headers=headers)
    assert resp.status == status, await resp.text()
    assert resp.content_type == "application/problem+json"
    assert says in (await resp.json())["detail"]
    assert await all_events(client) == []


async def test_times_in_a_dst_gap_or_fold_are_read_as_calendar_apps_read_them(
    client: Client,
) -> None:
    """RFC 5545 §3.3.5: a wall time skipped by spring-forward means the offset
    before the gap; a repeated one means its first occurrence."""
    data = (
        b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Test//EN\r\n"
        b"BEGIN:VEVENT\r\nUID:gap@example.org\r\nSUMMARY:In the gap\r\n"
        b"DTSTART;TZID=Europe/Brussels:20190331T023000\r\n"
        b"DTEND;TZID=Europe/Brussels:20190331T040000\r\nEND:VEVENT\r\n"
        b"BEGIN:VEVENT\r\nUID:fold@example.org\r\nSUMMARY:In the fold\r\n"
        b"DTSTART;TZID=Europe/Brussels:20181028T023000\r\n"
        b"DTEND;TZID=Europe/Brussels:20181028T040000\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    report = await import_file(client, data)
    assert report["created"] == 2, report["skipped_events"]
    events = {e["title"]: e for e in await all_events(client)}
    assert events["In the gap"]["start_utc"] == "2019-03-31T01:30:00Z"
    assert events["In the gap"]["start"] == "2019-03-31T03:30:00+02:00"
    assert events["In the fold"]["start_utc"] == "2018-10-28T00:30:00Z"
    assert events["In the fold"]["start"] == "2018-10-28T02:30:00+02:00"


def calendar(*vevents: str, head: str = "") -> bytes:
    body = "".join(f"BEGIN:VEVENT\r\n{v.strip()}\r\nEND:VEVENT\r\n" for v in vevents)
    text = f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Test//EN\r\n{head}{body}END:VCALENDAR\r\n"
    return text.replace("\n\r\n", "\r\n").replace("\r\r", "\r").encode()


def vevent(uid: str, *lines: str) -> str:
    return "\r\n".join([f"UID:{uid}", "SUMMARY:Show", *lines])


async def test_recurrence_bombs_are_refused_or_capped_quickly(client: Client) -> None:
    data = calendar(
        vevent(
            "minutely", "DTSTART:20180601T100000Z", "DTEND:20180601T100030Z", "RRULE:FREQ=MINUTELY"
        ),
        vevent("hourly", "DTSTART:20180601T100000Z", "DTEND:20180601T103000Z", "RRULE:FREQ=HOURLY"),
    )
    report = await import_file(client, data)
    skipped = reasons(report)
    assert "FREQ=MINUTELY is not a broadcast schedule" in skipped["minutely"]
    assert "only its first 1000 occurrences" in skipped["hourly"]
    assert report["created"] == 1000


async def test_times_that_overflow_skip_their_event_not_the_file(client: Client) -> None:
    data = calendar(
        vevent("far", "DTSTART:99991231T233000Z", "DTEND:99991231T235900Z"),
        vevent("long", "DTSTART:20180601T100000Z", "DURATION:P99999999W"),
        vevent("fine", "DTSTART:20180601T100000Z", "DTEND:20180601T110000Z"),
        head="X-WR-TIMEZONE:Pacific/Kiritimati\r\n",
    )
    report = await import_file(client, data)
    assert report["created"] == 1
    assert set(reasons(report)) == {"far", "long"}


async def test_a_prune_spares_what_the_file_still_has_and_says_why_a_rule_was_dropped(
    client: Client,
) -> None:
    weekly = "RRULE:FREQ=WEEKLY;COUNT=3"
    first = calendar(
        vevent("single", "DTSTART:20180601T100000Z", "DTEND:20180601T110000Z"),
        vevent("weekly", "DTSTART:20180602T100000Z", "DTEND:20180602T110000Z", weekly),
    )
    assert (await import_file(client, first))["created"] == 4
    broken = calendar(
        vevent("single", "DTSTART;VALUE=DATE:20180601"),
        vevent(
            "weekly", "DTSTART:20180602T100000Z", "DTEND:20180602T110000Z", "RRULE:FREQ=WEEKLYY"
        ),
    )
    report = await import_file(client, broken, "?prune=true")
    assert report["cancelled"] == 0
    assert "RRULE" in reasons(report)["weekly"] and "all-day" in reasons(report)["single"]
    # an occurrence the rule no longer yields is taken out, prune or not
    exdate = "EXDATE:20180609T100000Z"
    fewer = calendar(
        vevent("single", "DTSTART:20180601T100000Z", "DTEND:20180601T110000Z"),
        vevent("weekly", "DTSTART:20180602T100000Z", "DTEND:20180602T110000Z", weekly, exdate),
    )
    report = await import_file(client, fewer)
    assert (report["cancelled"], report["unchanged"]) == (1, 3)
    cancelled = [e for e in await all_events(client) if e["status"] == "cancelled"]
    assert [e["start_utc"] for e in cancelled] == ["2018-06-09T10:00:00Z"]


async def test_times_in_the_repeated_hour_import_again_unchanged(client: Client) -> None:
    data = calendar(
        vevent(
            "fold",
            "DTSTART;TZID=Europe/Brussels:20181028T023000",
            "DTEND;TZID=Europe/Brussels:20181028T033000",
        ),
        vevent(
            "fold-weekly",
            'DTSTART;TZID="W. Europe Standard Time":20181028T023000',
            'DTEND;TZID="W. Europe Standard Time":20181028T033000',
            "RRULE:FREQ=WEEKLY;COUNT=2",
        ),
    )
    first = await import_file(client, data)
    assert first["created"] == 1 and len(first["series"]["created"]) == 1
    again = await import_file(client, data)
    assert (again["updated"], again["unchanged"], again["series"]["updated"]) == (0, 1, [])


async def test_a_repeated_summary_takes_the_first_and_an_unknown_tzid_says_so(
    client: Client,
) -> None:
    data = calendar(
        vevent(
            "twice",
            "SUMMARY:Second",
            "DTSTART:20180601T100000Z",
            "DTEND:20180601T110000Z",
        ),
        vevent(
            "outlook-name",
            'DTSTART;TZID="(UTC+01:00) Amsterdam, Berlin, Bern":20180601T100000',
            'DTEND;TZID="(UTC+01:00) Amsterdam, Berlin, Bern":20180601T110000',
        ),
    )
    report = await import_file(client, data)
    assert [e["title"] for e in await all_events(client)] == ["Show"]
    assert "names no time zone this server knows" in reasons(report)["outlook-name"]


async def test_an_unchanged_file_imported_days_later_changes_nothing(
    client: Client, clock: FakeClock
) -> None:
    first = await import_file(client, GOOGLE)
    clock.advance(days=5)  # the series' first Tuesday is now long past
    again = await import_file(client, GOOGLE)
    assert again["series"]["unchanged"] == first["series"]["created"]
    assert (again["created"], again["updated"], again["cancelled"]) == (0, 0, 0)
    starts = [e["start_utc"] for e in await all_events(client) if e["title"] != "Press conference"]
    assert len(starts) == len(set(starts)) == 6  # no occurrence twice


async def test_an_override_moved_beyond_the_window_moves_the_occurrence(client: Client) -> None:
    data = calendar(
        vevent(
            "weekly",
            "DTSTART;TZID=Europe/Brussels:20180522T181500",
            "DTEND;TZID=Europe/Brussels:20180522T193000",
            "RRULE:FREQ=WEEKLY;COUNT=4",
        ),
        "\r\n".join(
            [
                "UID:weekly",
                "SUMMARY:Moved far",
                "RECURRENCE-ID;TZID=Europe/Brussels:20180529T181500",
                "DTSTART;TZID=Europe/Brussels:20191001T181500",
                "DTEND;TZID=Europe/Brussels:20191001T193000",
            ]
        ),
    )
    report = await import_file(client, data)
    assert report["cancelled"] == 0 and len(report["series"]["created"]) == 1
    moved = [e for e in await all_events(client) if e["title"] == "Moved far"]
    assert [(e["start_utc"], e["status"]) for e in moved] == [("2019-10-01T16:15:00Z", "scheduled")]


async def test_a_repeated_dtstart_in_a_recurring_event_is_a_reason_not_a_500(
    client: Client,
) -> None:
    data = calendar(
        vevent(
            "twice",
            "DTSTART;TZID=Europe/Brussels:20180601T100000",
            "DTSTART;TZID=Europe/Brussels:20180602T100000",
            "DTEND;TZID=Europe/Brussels:20180601T110000",
            "RRULE:FREQ=WEEKLY;COUNT=2",
        )
    )
    report = await import_file(client, data)
    assert "more than once" in reasons(report)["twice"]
