"""burst: 10,000 deliveries due at once, until all are acknowledged.

Two shapes: one event with 10,000 subscriptions, and 10,000 events with one
subscription each. The baseline posts 10,000 pre-signed payloads with one
``ClientSession`` at the same concurrency to the same receiver (its own process).
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
from sqlalchemy import insert

from bench.common import (
    Options,
    Report,
    bench_database,
    ratio,
    receiver_process,
    receiver_reset,
    running_app,
    service_settings,
    wait_for_count,
)
from bench.seed import seed_events
from scheduler.http.app import create_app
from scheduler.http.keys import DATABASE, DISPATCHER
from scheduler.models import Subscription
from scheduler.webhooks.signing import generate_secret, sign_headers

CONCURRENCY = 100  # webhook_concurrency of the service, and the baseline's limit
LEAD = 3.0


async def _baseline(count: int, receiver: str) -> float:
    secret = generate_secret()
    body = '{"type":"event.started","data":{"event":{"id":"x"}}}'
    now = datetime.now(UTC)
    signed = [
        sign_headers(msg_id=f"b{i}", timestamp=now, body=body, secrets_=[secret])
        for i in range(count)
    ]
    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector) as session:
        semaphore = asyncio.Semaphore(CONCURRENCY)

        async def post(headers: dict[str, str]) -> None:
            async with semaphore, session.post(f"{receiver}/hook", data=body, headers=headers) as r:
                await r.read()

        began = time.perf_counter()
        await asyncio.gather(*(post(h) for h in signed))
        return count / (time.perf_counter() - began)


async def _subscriptions(db: object, count: int, url: str) -> None:
    now = datetime.now(UTC)
    rows = [
        {
            "id": f"sub{i:06d}",
            "url": url,
            "types": ["event.started"],
            "active": True,
            "secret": generate_secret(),
            "created_at": now,
            "updated_at": now,
        }
        for i in range(count)
    ]
    async with db.session() as session:  # type: ignore[attr-defined]
        for i in range(0, len(rows), 2000):
            await session.execute(insert(Subscription.__table__), rows[i : i + 2000])  # type: ignore[attr-defined]


async def _service(events: int, subscriptions: int, receiver: str, options: Options) -> float:
    total = events * subscriptions
    with tempfile.TemporaryDirectory() as folder:
        async with bench_database(options) as url:
            settings = service_settings(url, Path(folder), webhook_concurrency=CONCURRENCY)
            app = create_app(settings)
            async with running_app(app):
                db = app[DATABASE]
                await _subscriptions(db, subscriptions, f"{receiver}/hook")
                due = datetime.now(UTC) + timedelta(seconds=LEAD)
                await seed_events(db, events, start_at=lambda i: due)
                app[DISPATCHER].wake()
                stats = await wait_for_count(receiver, total, timeout=LEAD + 300)
    arrivals = sorted(stats["arrivals"].values())  # type: ignore[union-attr]
    if len(arrivals) < total:
        raise RuntimeError(f"only {len(arrivals)} of {total} deliveries arrived")
    return total / (arrivals[-1] - due.timestamp())


async def run(options: Options) -> Report:
    count = 2000 if options.quick else 10000
    report = Report("burst", "postgresql" if options.postgres else "sqlite")
    async with receiver_process() as receiver:
        baseline = await _baseline(count, receiver)
        report.add(run="baseline (pre-signed, one session)", deliveries=count, per_second=baseline)
        for events, subs, label in (
            (1, count, "1 event x N subscriptions"),
            (count, 1, "N events x 1 subscription"),
        ):
            await receiver_reset(receiver)
            rate = await _service(events, subs, receiver, options)
            report.add(
                run=f"service: {label}",
                deliveries=count,
                per_second=rate,
                ratio=ratio(rate, baseline),
            )
    report.notes.append("target: service/baseline >= 0.8")
    return report
