"""read: the public read path at the machine's speed, against the same bytes served
from memory.

The service runs as ``broadcast-scheduler serve`` (log level WARNING) pinned to
one core with ``taskset``; ``wrk`` (Debian's package, installed when missing)
runs pinned to the other, so the load generator is faster than the server. For
each request the baseline is ``bench.static_server`` on the same core,
answering the bytes and headers the service answered (and 304 to a matching
``If-None-Match``). 1,500 events, starting every 10 minutes from an hour ago.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp

from bench.common import Options, Report, bench_database, free_port, ratio
from bench.seed import seed_events
from scheduler.store.database import Database

TOKEN = "bench-token-0123456789abcdef"
EVENTS = 1500
SERVER_CORE, LOAD_CORE = "1", "0"


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, capture_output=True)
    found = shutil.which("wrk")
    if not found:
        raise RuntimeError("wrk is needed: apt-get install wrk")
    return found


def pinned(core: str, argv: list[str]) -> list[str]:
    taskset = shutil.which("taskset")
    return [taskset, "-c", core, *argv] if taskset and (os.cpu_count() or 1) > 1 else argv


async def wait_up(base: str, path: str = "/healthz") -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(300):
            try:
                async with session.get(base + path) as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    raise RuntimeError(f"{base} did not come up")


def wrk(url: str, seconds: float, headers: dict[str, str] | None = None) -> tuple[float, str]:
    """Requests per second, and the status seen (wrk counts non-2xx/3xx apart)."""
    argv = [ensure_wrk(), "-t1", "-c32", f"-d{seconds:g}s", "--latency"]
    for name, value in (headers or {}).items():
        argv += ["-H", f"{name}: {value}"]
    out = subprocess.run(
        pinned(LOAD_CORE, [*argv, url]), capture_output=True, text=True, check=True
    ).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rate, f"{bad.group(1)} errors" if bad else "ok"


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
                await wait_up(static_base, paths["status"])
                for name, path, headers in _cases(paths, pages):
                    # rounds alternate service and baseline, so a load that comes and
                    # goes on a shared machine touches both; the medians are compared
                    runs: dict[str, list[float]] = {"service": [], "static": []}
                    statuses = set()
                    for _round in range(rounds):
                        got, status = wrk(base + path, seconds, headers)
                        runs["service"].append(got)
                        statuses.add(status)
                        runs["static"].append(wrk(static_base + path, seconds, headers)[0])
                    got, same = (statistics.median(runs[k]) for k in ("service", "static"))
                    status = ", ".join(sorted(statuses))
                    report.add(
                        request=name,
                        service_per_s=got,
                        static_per_s=same,
                        ratio=ratio(got, same),
                        bytes=len(base64.b64decode(pages[path]["body_b64"])),
                        answers=status,
                    )
            finally:
                for proc in (service, static):
                    if proc is not None:
                        proc.terminate()
                        proc.wait(timeout=15)
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
