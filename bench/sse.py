"""sse: memory per open live-status stream, and how fast one change reaches every stream.

The service runs as its own process (``python -m scheduler serve``). N clients
(10,000; 200 with ``--quick``) open ``GET /api/events/{id}/status/stream`` on
one event and stay; the server's resident memory before and after gives the
cost of one open stream. Then one operator start (``POST .../start``) changes
the event's state, and the time until every client has read the new status is
the broadcast time. Last, all clients vanish at once and the
``scheduler_sse_clients`` gauge must come back to 0 within two heartbeats.

The baseline, same run, same bytes: a bare aiohttp process (this module run as
``python -m bench.sse baseline PORT``) holding N idle streaming responses that
wrote the same first message, and pushing the same change message to all of
them on one POST. The clients are raw asyncio protocols in this process that
only count message markers, so that they cost far less than the server they measure.
"""

from __future__ import annotations

import asyncio
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from aiohttp import web

from bench.common import (
    TOKEN,
    Options,
    Report,
    bench_database,
    free_port,
    median,
    percentile,
    ratio,
)

MARKER = b"event: status"  # once in the first message, once in the change
OPEN_BATCH = 100  # connections opened at once (the listen backlog is 128)
HEARTBEAT_FULL = 15.0  # the production default
HEARTBEAT_QUICK = 1.0


@dataclass
class Result:
    extra_kb: int  # server RSS with the streams open, minus before
    spread: list[float]  # seconds from the change until each client had read it
    first: bytes = b""  # the first message as the service sent it
    left: float = 0.0  # streams the gauge still counted after the clients vanished
    freed_in: float = 0.0  # seconds until it reached that count


class StreamClient(asyncio.Protocol):
    """One SSE client that only counts messages: when did its 1st and 2nd arrive."""

    def __init__(self, request: bytes, on_change: Callable[[], None]) -> None:
        self.request = request
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.changed_at: float | None = None
        self.transport: asyncio.Transport | None = None
        self._seen = 0
        self._tail = b""
        self._on_change = on_change

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        window = self._tail + data  # a marker may straddle two reads
        self._seen += window.count(MARKER) - self._tail.count(MARKER)
        self._tail = window[-len(MARKER) :]
        if self._seen >= 1 and not self.opened.done():
            self.opened.set_result(None)
        if self._seen >= 2 and self.changed_at is None:
            self.changed_at = time.perf_counter()
            self._on_change()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(
                ConnectionError(f"stream closed before its first message: {exc}")
            )


class Crowd:
    """N streams on one URL, and when each read the change."""

    def __init__(self, port: int, path: str) -> None:
        self.port = port
        self.request = (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: text/event-stream\r\n\r\n"
        ).encode()
        self.clients: list[StreamClient] = []
        self.all_changed = asyncio.Event()
        self.changed = 0

    def _changed(self) -> None:
        self.changed += 1
        if self.changed == len(self.clients):
            self.all_changed.set()

    async def open(self, count: int) -> None:
        for start in range(0, count, OPEN_BATCH):
            batch = [
                StreamClient(self.request, self._changed)
                for _ in range(min(OPEN_BATCH, count - start))
            ]
            async with asyncio.timeout(60):
                await asyncio.gather(*(self._connect(c) for c in batch))
            self.clients += batch

    async def _connect(self, client: StreamClient) -> None:
        await asyncio.get_running_loop().create_connection(lambda: client, "127.0.0.1", self.port)
        await client.opened

    def spread(self, began: float) -> list[float]:
        return [c.changed_at - began for c in self.clients if c.changed_at is not None]

    def drop(self) -> None:
        for client in self.clients:
            assert client.transport is not None
            client.transport.abort()


async def first_message(port: int, path: str) -> bytes:
    """The first SSE message on ``path`` exactly as sent (the baseline sends the same bytes)."""
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}{path}") as resp,
    ):
        data = b""
        while not data.endswith(b"\r\n\r\n"):
            data += await resp.content.readany()
        return data


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def raise_fd_limit(needed: int) -> int:
    """Raise this process's soft file limit (children inherit it); returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        soft = wanted
    return soft


@asynccontextmanager
async def process(args: list[str], ready_url: str, env: dict[str, str]) -> AsyncIterator[int]:
    """Run ``args``; yields its pid once ``ready_url`` answers 200."""
    proc = subprocess.Popen(args, env=env)
    try:
        async with aiohttp.ClientSession() as session:
            while True:
                try:
                    async with session.get(ready_url) as resp:
                        if resp.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                if proc.poll() is not None:
                    raise RuntimeError(f"{args} exited with {proc.returncode}")
                await asyncio.sleep(0.05)
        yield proc.pid
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def sse_gauge(base: str) -> float:
    async with aiohttp.ClientSession() as session, session.get(f"{base}/metrics") as resp:
        for line in (await resp.text()).splitlines():
            if line.startswith("scheduler_sse_clients "):
                return float(line.split()[1])
    raise RuntimeError("no scheduler_sse_clients in /metrics")


async def measure(
    pid: int, crowd: Crowd, count: int, change: Callable[[], Awaitable[None]]
) -> Result:
    """Open ``count`` streams, measure the server's memory, make the change, time its arrival."""
    await asyncio.sleep(0.5)  # let start-up allocations settle
    before = rss_kb(pid)
    await crowd.open(count)
    await asyncio.sleep(1.0)
    after = rss_kb(pid)
    began = time.perf_counter()
    await change()
    async with asyncio.timeout(60):
        await crowd.all_changed.wait()
    return Result(after - before, crowd.spread(began))


async def run_service(count: int, heartbeat: float, options: Options) -> Result:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with tempfile.TemporaryDirectory() as folder:
        async with bench_database(options) as url:
            env = {k: v for k, v in os.environ.items() if not k.startswith("SCHEDULER_")}
            env.update(
                SCHEDULER_DATABASE_URL=url,
                SCHEDULER_DATA_DIR=folder,
                SCHEDULER_API_TOKEN=TOKEN,
                SCHEDULER_PORT=str(port),
                SCHEDULER_LOG_LEVEL="WARNING",
                SCHEDULER_SSE_HEARTBEAT_SECONDS=str(heartbeat),
            )
            server = [sys.executable, "-m", "scheduler", "serve"]
            async with process(server, f"{base}/readyz", env) as pid:
                event = {
                    "title": "Facebook CEO at the European Parliament",
                    "timezone": "Europe/Brussels",
                    "start": "2030-05-22T18:15",
                    "end": "2030-05-22T19:30",
                    "reminders": [],
                }
                async with (
                    aiohttp.ClientSession() as session,
                    session.post(f"{base}/api/events", json=event, headers=auth) as resp,
                ):
                    event_id = (await resp.json())["id"]
                path = f"/api/events/{event_id}/status/stream"
                first = await first_message(port, path)  # also warms the stream path up

                async def start() -> None:
                    async with (
                        aiohttp.ClientSession() as s,
                        s.post(f"{base}/api/events/{event_id}/start", headers=auth) as r,
                    ):
                        assert r.status == 200, await r.text()

                crowd = Crowd(port, path)
                result = await measure(pid, crowd, count, start)
                result.first = first
                assert await sse_gauge(base) == count
                crowd.drop()
                dropped = time.perf_counter()
                while True:
                    result.left = await sse_gauge(base)
                    result.freed_in = time.perf_counter() - dropped
                    if result.left == 0 or result.freed_in > 2 * heartbeat + 5:
                        return result
                    await asyncio.sleep(0.1)
    raise AssertionError("unreachable")


async def run_baseline(count: int, first: bytes) -> Result:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as folder:
        message = Path(folder) / "first"
        message.write_bytes(first)
        args = [sys.executable, "-m", "bench.sse", "baseline", str(port), str(message)]
        async with process(args, f"{base}/ready", dict(os.environ)) as pid:
            crowd = Crowd(port, "/stream")

            async def fire() -> None:
                async with aiohttp.ClientSession() as s, s.post(f"{base}/fire") as r:
                    assert r.status == 200

            result = await measure(pid, crowd, count, fire)
            crowd.drop()
            return result
    raise AssertionError("unreachable")


async def run(options: Options) -> Report:
    count = 200 if options.quick else 10_000
    heartbeat = HEARTBEAT_QUICK if options.quick else HEARTBEAT_FULL
    report = Report("sse", "postgresql" if options.postgres else "sqlite")
    limit = raise_fd_limit(count + 1000)
    if limit < count + 100:
        count = limit - 100
        report.notes.append(f"file limit {limit}: measured {count} streams only")
    service = await run_service(count, heartbeat, options)
    baseline = await run_baseline(count, service.first)
    for name, result in (("bare aiohttp", baseline), ("service", service)):
        measured = name == "service"
        report.add(
            run=name,
            streams=count,
            extra_mb=result.extra_kb / 1024,
            kb_per_stream=result.extra_kb / count,
            kb_ratio=ratio(result.extra_kb, baseline.extra_kb) if measured else None,
            all_read_ms=max(result.spread) * 1000,
            first_ms=min(result.spread) * 1000,
            median_ms=median(result.spread) * 1000,
            p99_ms=percentile(result.spread, 99) * 1000,
            read_ratio=ratio(max(result.spread), max(baseline.spread)) if measured else None,
        )
    report.notes.append(
        f"all {count} clients dropped at once: scheduler_sse_clients {count} -> {service.left:.0f} "
        f"in {service.freed_in:.1f} s (heartbeat {heartbeat:g} s)"
    )
    report.notes.append(
        "service all_read includes the POST .../start itself (auth, database write, commit); "
        "the baseline's POST only sets an asyncio event"
    )
    report.notes.append(
        "targets: kb_per_stream <= 20, extra_mb < 200 at 10,000, all_read_ms <= 1000"
    )
    return report


def baseline_app(first: bytes) -> web.Application:
    """Idle streams that wrote ``first``; POST /fire pushes one same-size message to all."""
    change = first.replace(b'"state": "upcoming"', b'"state": "live"    ')
    fired = asyncio.Event()

    async def stream(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        await resp.write(first)
        await fired.wait()
        await resp.write(change)
        await asyncio.Event().wait()  # stay open, idle, until the client goes
        return resp

    async def fire(request: web.Request) -> web.Response:
        fired.set()
        return web.Response(text="fired")

    async def ready(request: web.Request) -> web.Response:
        return web.Response(text="ready")

    app = web.Application()
    app.router.add_get("/stream", stream)
    app.router.add_post("/fire", fire)
    app.router.add_get("/ready", ready)
    return app


if __name__ == "__main__":
    _, role, port, first_file = sys.argv
    assert role == "baseline"
    web.run_app(
        baseline_app(Path(first_file).read_bytes()),
        host="127.0.0.1",
        port=int(port),
        print=None,
        access_log=None,
        shutdown_timeout=1,  # its handlers never end by themselves
    )
