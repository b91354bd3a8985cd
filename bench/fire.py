"""fire: 1,000 triggers due within the same second, one subscription, one local receiver.

The service runs ``RUNS`` times in this process, each on a fresh app and
database: the first run is *cold* (nothing measured or warmed up yet: the burst
users meet after a restart) and is reported on its own; the others are *warm*.

Lateness is receipt time minus due time, measured by the receiver (its own
process). The baseline does the minimum in the same run: ``loop.call_at`` at
each due time and one aiohttp POST of a pre-signed body to the same receiver.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp

from bench.common import (
    Options,
    Report,
    bench_database,
    percentile,
    ratio,
    receiver_process,
    receiver_reset,
    running_app,
    service_settings,
    wait_for_count,
)
from bench.seed import seed_events
from scheduler.http.app import create_app
from scheduler.http.keys import DATABASE, DISPATCHER, WEBHOOKS
from scheduler.models import SubscriptionCreate
from scheduler.webhooks.signing import generate_secret, sign_headers

LEAD = 6.0  # seconds between setting up and the first due time
RUNS = 3  # service runs: the first cold, the rest warm


def _lateness(stats: dict[str, object], due: dict[str, float]) -> list[float]:
    arrivals = stats["arrivals"]
    assert isinstance(arrivals, dict)
    return [arrivals[k] - due[k] for k in due if k in arrivals]


async def _service(count: int, receiver: str, options: Options) -> list[float]:
    with tempfile.TemporaryDirectory() as folder:
        async with bench_database(options) as url:
            app = create_app(service_settings(url, Path(folder)))
            async with running_app(app):
                await app[WEBHOOKS].create(
                    SubscriptionCreate(url=f"{receiver}/hook", types=["event.started"])
                )
                first = datetime.now(UTC) + timedelta(seconds=LEAD)
                spacing = timedelta(seconds=1) / count
                await seed_events(app[DATABASE], count, start_at=lambda i: first + spacing * i)
                app[DISPATCHER].wake()
                stats = await wait_for_count(receiver, count, timeout=LEAD + 60)
        scheduled = stats["scheduled"]
        assert isinstance(scheduled, dict)
        due = {
            k: datetime.fromisoformat(v.replace("Z", "+00:00")).timestamp()
            for k, v in scheduled.items()
        }
        return _lateness(stats, due)


async def _baseline(count: int, receiver: str) -> list[float]:
    loop = asyncio.get_running_loop()
    secret = generate_secret()
    due: dict[str, float] = {}
    tasks: set[asyncio.Task[None]] = set()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100)) as session:

        async def post(msg_id: str) -> None:
            body = '{"type":"event.started","data":{}}'
            headers = sign_headers(
                msg_id=msg_id, timestamp=datetime.now(UTC), body=body, secrets_=[secret]
            )
            async with session.post(f"{receiver}/hook", data=body, headers=headers) as resp:
                await resp.read()

        first_wall = time.time() + 3
        first_loop = loop.time() + 3
        for i in range(count):
            offset = i / count
            msg_id = f"base_{i}"
            due[msg_id] = first_wall + offset

            def fire(m: str = msg_id) -> None:
                task = loop.create_task(post(m))
                tasks.add(task)
                task.add_done_callback(tasks.discard)

            loop.call_at(first_loop + offset, fire)
        stats = await wait_for_count(receiver, count, timeout=60)
    return _lateness(stats, due)


async def run(options: Options) -> Report:
    count = 300 if options.quick else 1000
    report = Report("fire", "postgresql" if options.postgres else "sqlite")
    async with receiver_process() as receiver:
        base = await _baseline(count, receiver)
        runs = []
        for _ in range(RUNS):
            await receiver_reset(receiver)
            runs.append(await _service(count, receiver, options))
    cold, warm = runs[0], [v for run_ in runs[1:] for v in run_]
    rows = (
        ("baseline (call_at + POST)", base, 1),
        ("service, cold (first run in a fresh process)", cold, 1),
        (f"service, warm (runs 2-{RUNS})", warm, RUNS - 1),
    )
    for name, values, runs_ in rows:
        report.add(
            run=name,
            triggers=count * runs_,
            received=len(values),
            p50_ms=percentile(values, 50) * 1000,
            p99_ms=percentile(values, 99) * 1000,
            max_ms=max(values) * 1000,
        )
    for name, values in (("cold", cold), ("warm", warm)):
        p99 = ratio(percentile(values, 99), percentile(base, 99))
        report.notes.append(
            f"p99 lateness ratio service ({name})/baseline: {p99:.2f} (target <= 1.5)"
        )
    return report
