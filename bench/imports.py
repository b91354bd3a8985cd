"""import: a 10,000-event calendar file through ``POST /api/import``.

The file is written the way a calendar app exports one (a VTIMEZONE, events
with ``DTSTART;TZID=...``, a description, a location). Measured: the first
import (every event new), the same file again (every event found unchanged),
and, as the baselines of the same run, the file parsed by ``icalendar`` alone
(the floor any import pays) and the same events created through the event
service directly, 500 at a time (the writes without the file). Issue 17's
target: 10,000 events in under 10 s.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
import icalendar

from bench.common import TOKEN, Options, Report, bench_database, running_app, service_settings
from scheduler.http.app import create_app
from scheduler.http.keys import EVENTS
from scheduler.models import EventCreate

VTIMEZONE = (
    "BEGIN:VTIMEZONE\r\nTZID:Europe/Brussels\r\n"
    "BEGIN:DAYLIGHT\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\nTZNAME:CEST\r\n"
    "DTSTART:19700329T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\nEND:DAYLIGHT\r\n"
    "BEGIN:STANDARD\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nTZNAME:CET\r\n"
    "DTSTART:19701025T030000\r\nRRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\nEND:STANDARD\r\n"
    "END:VTIMEZONE\r\n"
)


def calendar_file(count: int, first: datetime) -> bytes:
    parts = ["BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//bench//EN\r\n", VTIMEZONE]
    for i in range(count):
        start = first + timedelta(minutes=30 * i)
        end = start + timedelta(minutes=25)
        parts.append(
            f"BEGIN:VEVENT\r\nUID:bench-{i}@example.org\r\nDTSTAMP:20260101T000000Z\r\n"
            f"DTSTART;TZID=Europe/Brussels:{start:%Y%m%dT%H%M%S}\r\n"
            f"DTEND;TZID=Europe/Brussels:{end:%Y%m%dT%H%M%S}\r\n"
            f"SUMMARY:Webstream {i}\r\nDESCRIPTION:Session {i} of the plenary\\, live.\r\n"
            "LOCATION:Brussels\r\nEND:VEVENT\r\n"
        )
    parts.append("END:VCALENDAR\r\n")
    return "".join(parts).encode()


def _wall(local: datetime) -> str:
    """The wall time with the offset a calendar app reads it with (a time in a
    spring-forward gap moves by the gap, RFC 5545 §3.3.5), as the import sends it."""
    zone = ZoneInfo("Europe/Brussels")
    return local.replace(tzinfo=zone).astimezone(UTC).astimezone(zone).isoformat()


async def run(options: Options) -> Report:
    count = 1000 if options.quick else 10000
    report = Report("import", "postgresql" if options.postgres else "sqlite")
    # wall times in Brussels from tomorrow, away from the DST changes' gaps
    first = (datetime.now(UTC) + timedelta(days=1)).replace(
        hour=8, minute=0, second=0, microsecond=0, tzinfo=None
    )
    data = calendar_file(count, first)

    began = time.perf_counter()
    parsed = await asyncio.to_thread(icalendar.Calendar.from_ical, data)
    parse = time.perf_counter() - began
    assert len(parsed.walk("VEVENT")) == count

    with tempfile.TemporaryDirectory() as folder:
        async with bench_database(options) as url:
            app = create_app(service_settings(url, Path(folder), import_max_bytes=64 << 20))
            async with running_app(app) as base, aiohttp.ClientSession() as session:
                headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "text/calendar"}
                took = []
                for _ in range(2):
                    began = time.perf_counter()
                    async with session.post(
                        f"{base}/api/import", data=data, headers=headers
                    ) as resp:
                        body = await resp.json()
                        assert resp.status == 200, body
                    took.append((time.perf_counter() - began, body))
        (first_s, first_body), (again_s, again_body) = took
        assert first_body["created"] == count, first_body["skipped_events"][:3]
        assert again_body["unchanged"] == count

        async with bench_database(options) as url:
            app = create_app(service_settings(url, Path(folder)))
            async with running_app(app):
                events = app[EVENTS]
                creates = [
                    EventCreate(
                        title=f"Webstream {i}",
                        description=f"Session {i} of the plenary, live.",
                        location="Brussels",
                        timezone="Europe/Brussels",
                        start=_wall(first + timedelta(minutes=30 * i)),
                        end=_wall(first + timedelta(minutes=30 * i + 25)),
                    )
                    for i in range(count)
                ]
                began = time.perf_counter()
                for i in range(0, count, 500):
                    await asyncio.gather(*(events.create(c) for c in creates[i : i + 500]))
                direct = time.perf_counter() - began

    for case, seconds in (
        ("import, all new (POST /api/import)", first_s),
        ("import again, all unchanged", again_s),
        ("baseline: icalendar parse alone", parse),
        ("baseline: the same creates through the event service", direct),
    ):
        report.add(case=case, events=count, seconds=round(seconds, 2), per_second=count / seconds)
    report.notes.append(
        f"file {len(data) / 1e6:.1f} MB; import / (parse + direct creates) = "
        f"{first_s / (parse + direct):.2f}; target (issue 17): {count:,} events in < 10 s"
    )
    return report
