"""pages: the public HTML pages at the machine's speed, against the same bytes from memory.

As ``bench read``: the service runs as ``broadcast-scheduler serve`` (log
level WARNING) pinned to one core, ``wrk`` pinned to the other; the baseline
is ``bench.static_server`` on the service's core answering the bytes and
headers the service answered (and 304 to a matching ``If-None-Match``).
1,500 events on two channels, starting every 10 minutes from an hour ago: the
schedule lists one live event and the next 199. Target (issue 16): the
schedule page at >= 0.5 of the baseline.
"""

from __future__ import annotations

import base64
import os
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp

from bench.common import Options, Report, bench_database
from bench.pinned import LOAD_CORE, SERVER_CORE, compare_with_static
from bench.seed import seed_events
from scheduler.store.database import Database

EVENTS = 1500
#: the headers a page is answered with, served again by the baseline
KEPT_HEADERS = (
    "Content-Type",
    "ETag",
    "Cache-Control",
    "Content-Security-Policy",
    "X-Content-Type-Options",
    "Referrer-Policy",
    "X-Frame-Options",
)


async def run(options: Options) -> Report:
    seconds, rounds = (1.0, 1) if options.quick else (2.0, 3)
    report = Report("pages", "postgresql" if options.postgres else "sqlite")
    with tempfile.TemporaryDirectory() as folder:
        async with bench_database(options) as url:
            db = Database(url)
            await db.upgrade()
            now = datetime.now(UTC)
            half = EVENTS // 2
            for channel, offset in (("plenary", 0), ("committees", 5)):
                await seed_events(
                    db,
                    half,
                    start_at=lambda i, o=offset: (
                        now - timedelta(hours=1) + timedelta(minutes=10 * i + o)
                    ),
                    channel=channel,
                    prefix=channel,
                )
            await db.dispose()
            await compare_with_static(
                report,
                database_url=url,
                folder=Path(folder),
                capture=_capture,
                cases=_cases,
                ready_path="/",
                seconds=seconds,
                rounds=rounds,
            )
    load = os.getloadavg()[0]
    report.notes.append(
        f"{EVENTS} events; wrk -t1 -c32, {rounds} rounds of {seconds:g} s alternating service "
        f"and baseline (medians), on core {LOAD_CORE}, servers on core {SERVER_CORE}; "
        f"load average {load:.2f} at the end; target (issue 16): GET / >= 0.5"
    )
    return report


async def _capture(base: str) -> tuple[dict[str, dict[str, object]], dict[str, str]]:
    """The service's answers, to be served again by the static server."""
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{base}/api/events?limit=1") as resp:
            event_id = (await resp.json())["items"][0]["id"]
        paths = {
            "schedule": "/",
            "channel": "/channels/plenary",
            "event": f"/events/{event_id}",
            "embed": "/embed",
        }
        pages: dict[str, dict[str, object]] = {}
        for path in paths.values():
            async with session.get(base + path) as resp:
                body = await resp.read()
                assert resp.status == 200, (path, resp.status)
                pages[path] = {
                    "status": resp.status,
                    "headers": {n: resp.headers[n] for n in KEPT_HEADERS if n in resp.headers},
                    "body_b64": base64.b64encode(body).decode(),
                }
    return pages, paths


def _cases(
    paths: dict[str, str], pages: dict[str, dict[str, object]]
) -> list[tuple[str, str, dict[str, str] | None]]:
    etag = str(pages["/"]["headers"]["ETag"])  # type: ignore[index]
    return [
        ("GET / (schedule)", paths["schedule"], None),
        ("GET /, If-None-Match (304)", paths["schedule"], {"If-None-Match": etag}),
        ("GET /channels/{name}", paths["channel"], None),
        ("GET /events/{id}", paths["event"], None),
        ("GET /embed", paths["embed"], None),
    ]
