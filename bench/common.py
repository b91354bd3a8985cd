"""Shared pieces of the benchmarks: processes, the service in-process, tables, results."""

from __future__ import annotations

import asyncio
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

RESULTS = Path(os.environ.get("BENCH_RESULTS", Path(__file__).parent / "results.jsonl"))
TOKEN = "bench-token-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


@dataclass
class Options:
    quick: bool = False
    postgres: str | None = None


@dataclass
class Report:
    name: str
    backend: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, **row: Any) -> None:
        self.rows.append(row)

    def print(self) -> None:
        print(f"\n== {self.name} ({self.backend})")
        if self.rows:
            keys = list(dict.fromkeys(k for row in self.rows for k in row))
            widths = {k: max(len(k), *(len(_fmt(r.get(k))) for r in self.rows)) for k in keys}
            print("  ".join(k.ljust(widths[k]) for k in keys))
            for row in self.rows:
                print("  ".join(_fmt(row.get(k)).ljust(widths[k]) for k in keys))
        for note in self.notes:
            print(f"  {note}")

    def save(self, quick: bool) -> None:
        entry = {
            "benchmark": self.name,
            "backend": self.backend,
            "quick": quick,
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": machine(),
            "rows": self.rows,
            "notes": self.notes,
        }
        with RESULTS.open("a") as fh:
            fh.write(json.dumps(entry) + "\n")


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 100 else f"{value:.0f}"
    return "" if value is None else str(value)


def machine() -> dict[str, Any]:
    import aiohttp as _aiohttp
    import icalendar
    import sqlalchemy

    return {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "aiohttp": _aiohttp.__version__,
        "sqlalchemy": sqlalchemy.__version__,
        "icalendar": icalendar.__version__,
    }


@asynccontextmanager
async def receiver_process() -> AsyncIterator[str]:
    """The bench receiver in its own process; yields its base URL."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "bench.receiver", str(port)])
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(100):
                try:
                    async with session.get(f"{base}/stats"):
                        break
                except aiohttp.ClientError:
                    await asyncio.sleep(0.05)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def receiver_stats(base: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as session, session.get(f"{base}/stats") as resp:
        data: dict[str, Any] = await resp.json()
        return data


async def receiver_reset(base: str) -> None:
    async with aiohttp.ClientSession() as session, session.post(f"{base}/reset"):
        pass


async def wait_for_count(base: str, count: int, timeout: float) -> dict[str, Any]:
    """Wait until ``count`` distinct messages arrived, then return the full stats.

    It polls a count only: fetching and parsing every arrival each time would
    load both the receiver and the measured process's event loop (which runs
    this poller) more and more as arrivals accumulate, and skew the figures.
    """
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            async with session.get(f"{base}/count") as resp:
                if (await resp.json())["distinct"] >= count:
                    break
            await asyncio.sleep(0.05)
    return await receiver_stats(base)


def database_url(options: Options, folder: Path) -> str:
    if options.postgres:
        return options.postgres
    return f"sqlite+aiosqlite:///{folder / 'bench.db'}"


async def fresh_postgres(url: str) -> str:
    """A new, empty database on the server of ``url`` for one benchmark."""
    import asyncpg

    name = f"bench_{os.getpid()}_{int(time.time() * 1000) % 10**8}"
    admin = url.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    head, _, _ = url.rpartition("/")
    return f"{head}/{name}"


async def drop_postgres(url: str, admin_url: str) -> None:
    import asyncpg

    name = url.rpartition("/")[2]
    conn = await asyncpg.connect(admin_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@asynccontextmanager
async def bench_database(options: Options) -> AsyncIterator[str]:
    """A database URL of its own for one benchmark: a temp SQLite file or a fresh PG database."""
    with tempfile.TemporaryDirectory(prefix="bench-") as folder:
        if options.postgres:
            url = await fresh_postgres(options.postgres)
            try:
                yield url
            finally:
                await drop_postgres(url, options.postgres)
        else:
            yield f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"


@asynccontextmanager
async def running_app(app: web.Application) -> AsyncIterator[str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def ratio(value: float, baseline: float) -> float:
    return value / baseline if baseline else float("nan")


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def service_settings(db_url: str, folder: Path, **overrides: Any) -> Any:
    from scheduler.config import Settings

    values: dict[str, Any] = {
        "database_url": db_url,
        "data_dir": folder,
        "api_tokens": (TOKEN,),
        "allow_private_webhook_targets": True,
        "log_level": "WARNING",
    }
    values.update(overrides)
    return Settings(**values)


def quiet_logs() -> None:
    import logging

    # one line per request and per delivery is the service's normal output; the
    # benchmarks keep the terminal for their tables and note the level they ran at
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger().setLevel(logging.WARNING)


async def load(url: str, *, seconds: float, concurrency: int, **extra: str) -> dict[str, Any]:
    """Run the load generator in its own process against ``url``."""
    args = [sys.executable, "-m", "bench.load", url, "--seconds", str(seconds)]
    args += ["--concurrency", str(concurrency)]
    for key, value in extra.items():
        args += [f"--{key}", value]
    proc = await asyncio.create_subprocess_exec(*args, stdout=asyncio.subprocess.PIPE)
    out, _ = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"load generator failed: {args}")
    result: dict[str, Any] = json.loads(out)
    return result
