"""scale: start-up time to ready, and resident memory, with 0, 100,000 and 1,000,000
future events in the database. Both should stay flat: the scheduler holds only
the triggers due within its horizon, never the whole future.

Each size gets a fresh database; the server runs as its own process
(``broadcast-scheduler serve``), started three times per size: the median
time to ready is reported (a single start-up varies by a fifth from run to
run), the memory after the last one has run its first refill. The baseline is
the empty database, same run.
"""

from __future__ import annotations

import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp

from bench.common import TOKEN, Options, Report, bench_database, free_port, ratio
from bench.seed import seed_events
from scheduler.store.database import Database


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


STARTS = 3  # start-ups per size; the median is reported (one start-up is noisy)


async def start_and_measure(url: str, folder: Path, *, settle: bool) -> tuple[float, float, int]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCHEDULER_")}
    env.update(
        SCHEDULER_DATABASE_URL=url,
        SCHEDULER_DATA_DIR=str(folder),
        SCHEDULER_API_TOKEN=TOKEN,
        SCHEDULER_PORT=str(port),
        SCHEDULER_LOG_LEVEL="WARNING",
    )
    began = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "scheduler", "serve"], env=env)
    try:
        async with aiohttp.ClientSession() as session:
            while True:
                # ready as an orchestrator sees it; the dispatcher starts before
                # the server listens, so by then it is running too
                try:
                    async with session.get(f"http://127.0.0.1:{port}/readyz") as resp:
                        if resp.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                if proc.poll() is not None:
                    raise RuntimeError("server exited")
                await asyncio.sleep(0.02)
            ready = time.perf_counter() - began
            if not settle:
                return ready, float("nan"), 0
            await asyncio.sleep(3)  # past the first refill
            async with session.get(f"http://127.0.0.1:{port}/status") as resp:
                jobs = (await resp.json())["scheduler"]["jobs"]
        return ready, rss_mb(proc.pid), jobs
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


async def run(options: Options) -> Report:
    sizes = (0, 10_000, 50_000) if options.quick else (0, 100_000, 1_000_000)
    report = Report("scale", "postgresql" if options.postgres else "sqlite")
    baseline: tuple[float, float] | None = None
    for size in sizes:
        with tempfile.TemporaryDirectory() as folder:
            async with bench_database(options) as url:
                db = Database(url)
                await db.upgrade()
                began = time.perf_counter()
                first = datetime.now(UTC) + timedelta(hours=2)
                await seed_events(
                    db,
                    size,
                    start_at=lambda i, first=first: first + timedelta(seconds=30 * i),
                    reminders=[60],
                )
                seeded = time.perf_counter() - began
                await db.dispose()
                times = []
                for attempt in range(STARTS):
                    last = attempt == STARTS - 1
                    took, rss, jobs = await start_and_measure(url, Path(folder), settle=last)
                    times.append(took)
                ready = statistics.median(times)
        if baseline is None:
            baseline = (ready, rss)
        report.add(
            events=size,
            triggers=size * 3,
            seed_s=seeded,
            ready_s=ready,
            ready_ratio=ratio(ready, baseline[0]),
            rss_mb=rss,
            rss_ratio=ratio(rss, baseline[1]),
            jobs_held=jobs,
        )
    report.notes.append("target: ready_ratio and rss_ratio <= 1.2 at the largest size")
    return report
