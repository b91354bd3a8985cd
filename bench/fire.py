"""fire: 1,000 triggers due within the same second, one subscription, one local receiver.

The service runs ``RUNS`` times in this process, each on a fresh app and
database: the first run is *cold* (nothing measured or warmed up yet: the burst
users meet after a restart) and is reported on its own; the others are *warm*.
Warm means the process (imports, the receiver, the page cache): every run is a
fresh app, so its pacing starts from the cold estimate each time. A note per
run says when the burst's preparation began and the pacing's estimate of the
cost a trigger after it (an EWMA, so not one pass's cost), so a late burst
shows whether it was prepared too late or sent too slowly.

Lateness is receipt time minus due time, measured by the receiver (its own
process). The baseline does the minimum in the same run: ``loop.call_at`` at
each due time and one aiohttp POST of a pre-signed body to the same receiver.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

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
from scheduler.store import claims
from scheduler.webhooks.signing import generate_secret, sign_headers

LEAD = 6.0  # seconds between setting up and the first due time
RUNS = 3  # service runs: the first cold, the rest warm


def _lateness(stats: dict[str, object], due: dict[str, float]) -> list[float]:
    arrivals = stats["arrivals"]
    assert isinstance(arrivals, dict)
    return [arrivals[k] - due[k] for k in due if k in arrivals]


@dataclass
class ServiceRun:
    """One run of the service: each message's lateness, and how its burst was prepared."""

    lateness: list[float]
    prepared_ahead: float  # seconds from the first claim of the burst to its first due time
    seconds_per_trigger: float  # the pacing's estimate after the run (an EWMA)


async def _service(count: int, receiver: str, options: Options) -> ServiceRun:
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
                with _first_claim() as claimed_at:
                    app[DISPATCHER].wake()
                    stats = await wait_for_count(receiver, count, timeout=LEAD + 60)
                pacing = app[DISPATCHER].preparer.pacing
        scheduled = stats["scheduled"]
        assert isinstance(scheduled, dict)
        due = {
            k: datetime.fromisoformat(v.replace("Z", "+00:00")).timestamp()
            for k, v in scheduled.items()
        }
        ahead = first.timestamp() - claimed_at[0] if claimed_at else float("nan")
        return ServiceRun(_lateness(stats, due), ahead, pacing.seconds_per_trigger)


@contextmanager
def _first_claim() -> Iterator[list[float]]:
    """Note the wall time of the first claim that returns triggers (the start of
    the burst's preparation): what the pacing decided, seen from outside."""
    seen: list[float] = []
    original = claims.claim_due

    async def noting(*args: Any, **kwargs: Any) -> Any:
        began = time.time()
        rows = await original(*args, **kwargs)
        if rows and not seen:
            seen.append(began)
        return rows

    claims.claim_due = noting  # type: ignore[assignment]
    try:
        yield seen
    finally:
        claims.claim_due = original  # type: ignore[assignment]


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
        runs: list[ServiceRun] = []
        for _ in range(RUNS):
            await receiver_reset(receiver)
            runs.append(await _service(count, receiver, options))
    cold, warm = runs[0].lateness, [v for run_ in runs[1:] for v in run_.lateness]
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
    for number, run_ in enumerate(runs, 1):
        report.notes.append(
            f"run {number} ({'cold' if number == 1 else 'warm'}): preparation began"
            f" {run_.prepared_ahead:.2f} s before the first due time; pacing's estimate"
            f" after it {run_.seconds_per_trigger * 1000:.2f} ms a trigger"
        )
    return report
