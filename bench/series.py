"""series: materialising recurring series, and the feed after one series change,
against the same number of one-off events created through the service.

In one process, on a scratch database each: the baseline creates N one-off
events through ``EventService.create`` (concurrent creates, committed together
by ``services.group_commit``); the series side creates S daily series through
``SeriesService.create`` whose occurrences, ``series_horizon_days`` (400) ahead,
are the same N events. Then each side builds its feed once (cold), changes one
thing (an event's title; a series' title, which rewrites its ~400 occurrences)
and builds the feed again: the figure a calendar app waits for after a change.
Times are wall-clock on the shared 2-core machine; the ratios are what to read.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import text

from bench.common import Options, Report, bench_database, ratio, service_settings
from scheduler.models import EventCreate, EventUpdate, SeriesCreate, SeriesUpdate
from scheduler.services.bus import ChangeBus
from scheduler.services.events import EventService
from scheduler.services.feeds import FeedService
from scheduler.services.routing import route
from scheduler.services.series import SeriesService
from scheduler.store.database import Database

NOW = datetime(2027, 1, 1, tzinfo=UTC)
DAYS = 400  # occurrences of a daily series within the default horizon
CONCURRENCY = 100  # one-off creates in flight at once


def _clock() -> datetime:
    return NOW


async def _side(url: str, folder: Path, series_count: int, *, series: bool) -> dict[str, float]:
    settings = service_settings(url, folder, series_horizon_days=DAYS - 1)
    db = Database(url)
    await db.upgrade()
    events = EventService(db, settings, _clock)
    feeds = FeedService(db, settings, _clock)
    route(ChangeBus(db, events.origin), clock=_clock, events=events, feeds=feeds)
    figures: dict[str, float] = {}
    try:
        began = time.perf_counter()
        if series:
            service = SeriesService(events)
            ids = []
            for number in range(series_count):
                hour, minute = 6 + number % 16, number % 60
                view = await service.create(
                    SeriesCreate(
                        title=f"Daily stream {number}",
                        timezone="Europe/Brussels",
                        start=f"2027-01-02T{hour:02d}:{minute:02d}",
                        end=f"2027-01-02T{hour + 1:02d}:{minute:02d}",
                        rrule="FREQ=DAILY",
                        reminders=[15],
                    )
                )
                ids.append(view.series.id)
        else:
            total = series_count * DAYS
            created: list[str] = []

            async def one(number: int) -> None:
                day = number % DAYS
                result = await events.create(
                    EventCreate(
                        title=f"Stream {number}",
                        timezone="Europe/Brussels",
                        start=f"2027-{1 + day // 31 % 12:02d}-{1 + day % 28:02d}T18:15",
                        end=f"2027-{1 + day // 31 % 12:02d}-{1 + day % 28:02d}T19:30",
                        reminders=[15],
                    )
                )
                created.append(result.event.id)

            for first in range(0, total, CONCURRENCY):
                await asyncio.gather(
                    *(one(n) for n in range(first, min(total, first + CONCURRENCY)))
                )
        figures["create_s"] = time.perf_counter() - began
        async with db.session() as session:
            figures["events"] = float(
                (await session.execute(text("SELECT count(*) FROM events"))).scalar_one()
            )
        began = time.perf_counter()
        await feeds.calendar(None)
        figures["feed_cold_s"] = time.perf_counter() - began
        began = time.perf_counter()
        if series:
            await service.update(ids[0], SeriesUpdate(title="Renamed"))
        else:
            await events.update(created[0], EventUpdate(title="Renamed"))
        figures["change_s"] = time.perf_counter() - began
        began = time.perf_counter()
        feed = await feeds.calendar(None)
        figures["feed_after_change_s"] = time.perf_counter() - began
        figures["feed_kb"] = len(feed.body) / 1024
    finally:
        await events.close()
        await db.dispose()
    return figures


async def run(options: Options) -> Report:
    series_count = 5 if options.quick else 100
    report = Report("series", "postgresql" if options.postgres else "sqlite")
    with tempfile.TemporaryDirectory(prefix="bench-series-") as folder:
        async with bench_database(options) as url:
            baseline = await _side(url, Path(folder), series_count, series=False)
        async with bench_database(options) as url:
            measured = await _side(url, Path(folder), series_count, series=True)
    for name in ("create_s", "feed_cold_s", "change_s", "feed_after_change_s", "feed_kb"):
        report.add(
            figure=name,
            one_off_events=baseline[name],
            series=measured[name],
            ratio=ratio(measured[name], baseline[name]),
        )
    report.notes.append(
        f"{series_count} daily series x {DAYS} days = {measured['events']:.0f} occurrences; "
        f"baseline {baseline['events']:.0f} one-off events through EventService.create"
    )
    report.notes.append("the change: one series' title (all its occurrences) vs one event's")
    return report
