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
import json
import os
import statistics
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp

from bench.common import Options, Report, bench_database, free_port, ratio
from bench.read import LOAD_CORE, SERVER_CORE, TOKEN, pinned, wait_up, wrk
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
            port = free_port()
            env = {k: v for k, v in os.environ.items() if not k.startswith("SCHEDULER_")}
            env.update(
                SCHEDULER_DATABASE_URL=url,
                SCHEDULER_DATA_DIR=folder,
                SCHEDULER_API_TOKEN=TOKEN,
                SCHEDULER_LOG_LEVEL="WARNING",
            )
            service = subprocess.Popen(
                pinned(
                    SERVER_CORE, [sys.executable, "-m", "scheduler", "serve", "--port", str(port)]
                ),
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            static: subprocess.Popen[bytes] | None = None
            try:
                base = f"http://127.0.0.1:{port}"
                await wait_up(base)
                pages, paths = await _capture(base)
                pages_file = Path(folder) / "pages.json"
                pages_file.write_text(json.dumps(pages))
                static_port = free_port()
                static = subprocess.Popen(
                    pinned(
                        SERVER_CORE,
                        [
                            sys.executable,
                            "-m",
                            "bench.static_server",
                            str(pages_file),
                            str(static_port),
                        ],
                    )
                )
                static_base = f"http://127.0.0.1:{static_port}"
                await wait_up(static_base, paths["schedule"])
                for name, path, headers in _cases(paths, pages):
                    runs: dict[str, list[float]] = {"service": [], "static": []}
                    statuses = set()
                    for _round in range(rounds):
                        got, status = wrk(base + path, seconds, headers)
                        runs["service"].append(got)
                        statuses.add(status)
                        runs["static"].append(wrk(static_base + path, seconds, headers)[0])
                    got, same = (statistics.median(runs[k]) for k in ("service", "static"))
                    report.add(
                        request=name,
                        service_per_s=got,
                        static_per_s=same,
                        ratio=ratio(got, same),
                        bytes=len(base64.b64decode(str(pages[path]["body_b64"]))),
                        answers=", ".join(sorted(statuses)),
                    )
            finally:
                for proc in (service, static):
                    if proc is not None:
                        proc.terminate()
                        proc.wait(timeout=15)
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
