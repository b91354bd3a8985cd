"""read: the public read path at the machine's speed, against the same bytes served
from memory (the harness is ``bench.pinned``: the service and its static twin
on one core, ``wrk``, installed when missing, on the other). 1,500 events,
starting every 10 minutes from an hour ago.
"""

from __future__ import annotations

import base64
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp

from bench.common import Options, Report, bench_database
from bench.pinned import LOAD_CORE, SERVER_CORE, compare_with_static
from bench.seed import seed_events
from scheduler.store.database import Database

EVENTS = 1500


async def run(options: Options) -> Report:
    seconds, rounds = (1.0, 1) if options.quick else (2.0, 3)
    report = Report("read", "postgresql" if options.postgres else "sqlite")
    with tempfile.TemporaryDirectory() as folder:
        async with bench_database(options) as url:
            db = Database(url)
            await db.upgrade()
            now = datetime.now(UTC)
            await seed_events(
                db, EVENTS, start_at=lambda i: now - timedelta(hours=1) + timedelta(minutes=10 * i)
            )
            await db.dispose()
            await compare_with_static(
                report,
                database_url=url,
                folder=Path(folder),
                capture=_capture,
                cases=_cases,
                ready_path="/healthz",  # one of the captured answers
                seconds=seconds,
                rounds=rounds,
            )
    report.notes.append(
        f"{EVENTS} events; wrk -t1 -c32, {rounds} rounds of {seconds:g} s alternating service "
        f"and baseline (medians), on core {LOAD_CORE}, servers on core {SERVER_CORE}; "
        "targets (issue 14): status >= 0.5, list >= 0.2, feed 200/304 >= 0.9, healthz >= 0.9"
    )
    return report


async def _capture(base: str) -> tuple[dict[str, dict[str, object]], dict[str, str]]:
    """The service's answers, to be served again by the static server."""
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{base}/api/events?limit=50") as resp:
            listing = await resp.json()
        event_id = listing["items"][0]["id"]
        paths = {
            "status": f"/api/events/{event_id}/status",
            "list": "/api/events?limit=50",
            "event": f"/api/events/{event_id}",
            "feed": "/calendar.ics",
            "healthz": "/healthz",
        }
        pages: dict[str, dict[str, object]] = {}
        for path in paths.values():
            async with session.get(base + path) as resp:
                body = await resp.read()
                keep = {
                    name: resp.headers[name]
                    for name in ("Content-Type", "ETag", "Cache-Control", "Last-Modified")
                    if name in resp.headers
                }
                pages[path] = {
                    "status": resp.status,
                    "headers": keep,
                    "body_b64": base64.b64encode(body).decode(),
                }
    return pages, paths


def _cases(
    paths: dict[str, str], pages: dict[str, dict[str, object]]
) -> list[tuple[str, str, dict[str, str] | None]]:
    cases: list[tuple[str, str, dict[str, str] | None]] = [
        ("GET /api/events/{id}/status", paths["status"], None),
        ("GET /api/events?limit=50", paths["list"], None),
        ("GET /api/events/{id}", paths["event"], None),
        ("GET /calendar.ics (cached)", paths["feed"], None),
    ]
    etag = pages[paths["feed"]]["headers"].get("ETag")  # type: ignore[union-attr]
    if etag:
        cases.append(
            ("GET /calendar.ics, If-None-Match (304)", paths["feed"], {"If-None-Match": str(etag)})
        )
    cases.append(("GET /healthz", paths["healthz"], None))
    return cases
