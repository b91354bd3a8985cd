"""A service and its same-bytes twin, each pinned to one core, loaded by
``wrk`` pinned to the other (the load generator must be faster than the
server): the harness of ``bench read`` and ``bench pages``.

The service runs as ``broadcast-scheduler serve`` (log level WARNING); the
baseline is ``bench.static_server`` on the same core, answering the bytes and
headers the service answered (and 304 to a matching ``If-None-Match``). Each
request runs rounds that alternate service and baseline, so a load that comes
and goes on a shared machine touches both; the medians are compared.
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
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp

from bench.common import TOKEN, Report, free_port, ratio

#: the service's answers by path (``status``, ``headers``, ``body_b64``)
Pages = dict[str, dict[str, object]]
#: (name shown, path, request headers)
Case = tuple[str, str, dict[str, str] | None]

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


async def compare_with_static(
    report: Report,
    *,
    database_url: str,
    folder: Path,
    capture: Callable[[str], Awaitable[tuple[Pages, dict[str, str]]]],
    cases: Callable[[dict[str, str], Pages], list[Case]],
    ready_path: str,
    seconds: float,
    rounds: int,
) -> None:
    """Start the service on ``database_url``, ``capture`` its answers, serve
    them again from the static twin, and add a row per case to ``report``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCHEDULER_")}
    env.update(
        SCHEDULER_DATABASE_URL=database_url,
        SCHEDULER_DATA_DIR=str(folder),
        SCHEDULER_API_TOKEN=TOKEN,
        SCHEDULER_LOG_LEVEL="WARNING",
    )
    port = free_port()
    service = subprocess.Popen(
        pinned(SERVER_CORE, [sys.executable, "-m", "scheduler", "serve", "--port", str(port)]),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    static: subprocess.Popen[bytes] | None = None
    try:
        base = f"http://127.0.0.1:{port}"
        await wait_up(base)
        pages, paths = await capture(base)
        pages_file = folder / "pages.json"
        pages_file.write_text(json.dumps(pages))
        static_port = free_port()
        static = subprocess.Popen(
            pinned(
                SERVER_CORE,
                [sys.executable, "-m", "bench.static_server", str(pages_file), str(static_port)],
            )
        )
        static_base = f"http://127.0.0.1:{static_port}"
        await wait_up(static_base, ready_path)
        for name, path, headers in cases(paths, pages):
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
