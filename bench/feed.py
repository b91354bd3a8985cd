"""feed: a 10,000-event iCal feed: first render, then cached GETs and 304s per second.

The load generator runs in its own process. The baseline is an aiohttp handler
in the same process as the service, returning the same bytes from memory (and
304 on a matching ``If-None-Match``), measured in the same run.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
from aiohttp import web

from bench.common import (
    TOKEN,
    Options,
    Report,
    bench_database,
    load,
    ratio,
    running_app,
    service_settings,
)
from bench.seed import seed_events
from scheduler.http.app import create_app
from scheduler.http.keys import DATABASE


def static_app(body: bytes, etag: str) -> web.Application:
    async def handler(request: web.Request) -> web.Response:
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers={"ETag": etag})
        return web.Response(body=body, headers={"ETag": etag}, content_type="text/calendar")

    app = web.Application()
    app.router.add_get("/calendar.ics", handler)
    return app


async def _fresh_after_changes(
    session: aiohttp.ClientSession, base: str, *, changes: int
) -> list[float]:
    """Seconds from sending the GET that follows a change to one event (a PATCH
    through the API) to its last byte, ``changes`` times."""
    auth = {"Authorization": f"Bearer {TOKEN}"}
    async with session.get(f"{base}/api/events?limit={changes}") as resp:
        ids = [item["id"] for item in (await resp.json())["items"]]
    took = []
    for n, event_id in enumerate(ids):
        async with session.patch(
            f"{base}/api/events/{event_id}", json={"title": f"Renamed {n}"}, headers=auth
        ) as resp:
            assert resp.status == 200, await resp.text()
        began = time.perf_counter()
        async with session.get(f"{base}/calendar.ics") as resp:
            await resp.read()
        took.append(time.perf_counter() - began)
    return took


async def run(options: Options) -> Report:
    count = 2000 if options.quick else 10000
    seconds = 1.5 if options.quick else 5.0
    report = Report("feed", "postgresql" if options.postgres else "sqlite")
    with tempfile.TemporaryDirectory() as folder:
        async with bench_database(options) as url:
            app = create_app(service_settings(url, Path(folder), feed_max_events=count))
            async with running_app(app) as base:
                first = datetime.now(UTC) + timedelta(days=1)
                await seed_events(
                    app[DATABASE],
                    count,
                    start_at=lambda i: first + timedelta(minutes=10 * i),
                    reminders=[15],
                )
                async with aiohttp.ClientSession() as session:
                    began = time.perf_counter()
                    async with session.get(f"{base}/calendar.ics") as resp:
                        body = await resp.read()
                        etag = resp.headers["ETag"]
                    first_render = time.perf_counter() - began
                    began = time.perf_counter()
                    async with session.get(f"{base}/calendar.ics") as resp:
                        await resp.read()
                    cached_once = time.perf_counter() - began
                    fresh = await _fresh_after_changes(session, base, changes=5)
                    async with session.get(f"{base}/calendar.ics") as resp:
                        body = await resp.read()
                        etag = resp.headers["ETag"]
                report.notes.append(
                    f"{count} events, {len(body) / 1e6:.1f} MB: first render {first_render:.2f} s, "
                    f"then {cached_once * 1000:.1f} ms from cache; the first GET after a "
                    f"change to one event: median {statistics.median(fresh) * 1000:.0f} ms, "
                    f"slowest {max(fresh) * 1000:.0f} ms of {len(fresh)} (target <= 100 ms at "
                    "10,000 events)"
                )
                async with running_app(static_app(body, etag)) as static:
                    inm = json.dumps({"If-None-Match": etag})
                    results = {}
                    for name, target, headers in (
                        ("static 200", static, None),
                        ("service 200 (cached)", base, None),
                        ("static 304", static, inm),
                        ("service 304", base, inm),
                    ):
                        extra = {"headers": headers} if headers else {}
                        results[name] = await load(
                            f"{target}/calendar.ics", seconds=seconds, concurrency=32, **extra
                        )
    for name, result in results.items():
        baseline = results["static 304" if "304" in name else "static 200"]["rps"]
        report.add(
            run=name,
            requests=result["requests"],
            per_second=result["rps"],
            ratio=ratio(result["rps"], baseline) if name.startswith("service") else None,
            statuses=",".join(f"{k}:{v}" for k, v in result["statuses"].items()),
        )
    report.notes.append("target: service/static >= 0.9 for 200 and 304")
    return report
