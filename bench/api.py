"""api: events created per second, and GET /api/events/{id}/status per second.

Load from its own process at concurrency 16; the baseline is a bare aiohttp
handler in the service's process (JSON in, JSON out) in the same run.
"""

from __future__ import annotations

import json
import tempfile
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
from scheduler.http.app import create_app

EVENT = {
    "title": "Facebook CEO at the European Parliament",
    "timezone": "Europe/Brussels",
    "start": "2030-05-22T18:15",
    "end": "2030-05-22T19:30",
    "reminders": [60, 15],
}


def bare_app() -> web.Application:
    async def echo(request: web.Request) -> web.Response:
        data = await request.json()
        return web.json_response({"id": "x", **data}, status=201)

    async def status(request: web.Request) -> web.Response:
        return web.json_response({"id": request.match_info["id"], "state": "upcoming"})

    app = web.Application()
    app.router.add_post("/api/events", echo)
    app.router.add_get("/api/events/{id}/status", status)
    return app


async def run(options: Options) -> Report:
    seconds = 1.5 if options.quick else 5.0
    report = Report("api", "postgresql" if options.postgres else "sqlite")
    auth = json.dumps({"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
    body = json.dumps(EVENT)
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        async with bench_database(options) as url:
            app = create_app(service_settings(url, Path(folder)))
            async with running_app(app) as service, running_app(bare_app()) as bare:
                async with (
                    aiohttp.ClientSession() as session,
                    session.post(
                        f"{service}/api/events", data=body, headers=json.loads(auth)
                    ) as resp,
                ):
                    event_id = (await resp.json())["id"]
                for name, target in (("bare", bare), ("service", service)):
                    results[f"{name} POST /api/events"] = await load(
                        f"{target}/api/events",
                        seconds=seconds,
                        concurrency=16,
                        method="POST",
                        body=body,
                        headers=auth,
                    )
                    results[f"{name} GET .../status"] = await load(
                        f"{target}/api/events/{event_id}/status", seconds=seconds, concurrency=16
                    )
    for name, result in results.items():
        base = results[name.replace("service", "bare")]["rps"]
        report.add(
            run=name,
            requests=result["requests"],
            per_second=result["rps"],
            ratio=ratio(result["rps"], base) if name.startswith("service") else None,
            statuses=",".join(f"{k}:{v}" for k, v in result["statuses"].items()),
        )
    return report
