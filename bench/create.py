"""create: ``POST /api/events`` with 8 concurrent clients, against the same inserts
done by a naive handler.

The service runs as ``broadcast-scheduler serve`` (log level WARNING, its
dispatcher and listeners running) pinned to one core with ``taskset``; ``wrk``
(``-t1 -c8``, a Lua script for the body and the bearer token) runs pinned to
the other. The baseline is ``bench.insert_server`` on the same core with the
same driver: one transaction per request inserting the event, its three
triggers and the change notice. Each server has a scratch database of its own
(``bench_database``). Events start in 2030, beyond the dispatcher's horizon.
Rounds alternate baseline and service, so a neighbour's load on the shared
machine shows as a spread between rounds rather than as a skewed ratio.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import text

from bench.common import TOKEN, Options, Report, bench_database, free_port, ratio
from bench.pinned import LOAD_CORE, SERVER_CORE, ensure_wrk, pinned, wait_up
from scheduler.store.database import Database

CLIENTS = 8
#: one reminder: the event row, three trigger rows (reminder, start, end), a notice
EVENT = {
    "title": "Facebook CEO at the European Parliament",
    "timezone": "Europe/Brussels",
    "start": "2030-05-22T18:15",
    "end": "2030-05-22T19:30",
    "reminders": [15],
    "channel": "plenary",
    "stream_url": "https://www.europarl.europa.eu/live",
}
TARGET = "issue 14: service >= 500/s at 8 clients, p99 <= 50 ms, on SQLite and PostgreSQL"

LUA = """\
wrk.method = "POST"
wrk.body = {body}
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {token}"
"""

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text_value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text_value).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS[unit]


def wrk_post(url: str, seconds: float, script: Path) -> dict[str, Any]:
    """Creates per second, p50/p99 in ms and the count of answers other than 2xx/3xx."""
    argv = [ensure_wrk(), "-t1", f"-c{CLIENTS}", f"-d{seconds:g}s", "-s", str(script), "--latency"]
    out = subprocess.run(
        pinned(LOAD_CORE, [*argv, url]), capture_output=True, text=True, check=True
    ).stdout
    latency = dict(re.findall(r"^\s+(50|99)%\s+(\S+)\s*$", out, re.MULTILINE))
    if "99" not in latency:
        raise RuntimeError(f"wrk gave no latency distribution:\n{out}")
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)$", out, re.MULTILINE)
    return {
        "per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "p50": _ms(latency["50"]),
        "p99": _ms(latency["99"]),
        "bad": int(bad.group(1)) if bad else 0,
        "socket_errors": errors.group(1) if errors else "",
    }


async def _created(url: str) -> int:
    db = Database(url)
    try:
        async with db.session() as session:
            return int((await session.execute(text("SELECT count(*) FROM events"))).scalar_one())
    finally:
        await db.dispose()


async def _probe(base: str) -> int:
    """One create, checked: the answer's size in bytes."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{base}/api/events", json=EVENT, headers=headers) as resp,
    ):
        body = await resp.read()
        if resp.status != 201:
            raise RuntimeError(f"{base}: {resp.status} {body[:300]!r}")
        return len(body)


def _service(url: str, port: int, folder: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCHEDULER_")}
    env.update(
        SCHEDULER_DATABASE_URL=url,
        SCHEDULER_DATA_DIR=folder,
        SCHEDULER_API_TOKEN=TOKEN,
        SCHEDULER_LOG_LEVEL="WARNING",
    )
    argv = [sys.executable, "-m", "scheduler", "serve", "--port", str(port)]
    return subprocess.Popen(
        pinned(SERVER_CORE, argv), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def _baseline(url: str, port: int) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "bench.insert_server", url, str(port)]
    return subprocess.Popen(pinned(SERVER_CORE, argv), stdout=subprocess.DEVNULL)


async def run(options: Options) -> Report:
    seconds, rounds = (1.0, 1) if options.quick else (5.0, 2)
    report = Report("create", "postgresql" if options.postgres else "sqlite")
    with tempfile.TemporaryDirectory() as folder:
        script = Path(folder) / "post.lua"
        script.write_text(LUA.format(body=json.dumps(json.dumps(EVENT)), token=TOKEN))
        async with bench_database(options) as service_url, bench_database(options) as base_url:
            for url in (service_url, base_url):
                db = Database(url)
                await db.upgrade()
                await db.dispose()
            service_port, base_port = free_port(), free_port()
            procs = [_service(service_url, service_port, folder)]
            try:
                procs.append(_baseline(base_url, base_port))
                service = f"http://127.0.0.1:{service_port}"
                baseline = f"http://127.0.0.1:{base_port}"
                await wait_up(service)
                await wait_up(baseline)
                sizes = {
                    name: await _probe(base) for name, base in (("s", service), ("b", baseline))
                }
                for base in (baseline, service):  # warm both up (imports, caches, pools)
                    wrk_post(f"{base}/api/events", min(seconds, 1.0), script)
                for number in range(1, rounds + 1):
                    same = wrk_post(f"{baseline}/api/events", seconds, script)
                    got = wrk_post(f"{service}/api/events", seconds, script)
                    report.add(
                        round=number,
                        service_per_s=got["per_s"],
                        baseline_per_s=same["per_s"],
                        ratio=ratio(got["per_s"], same["per_s"]),
                        service_p50_ms=got["p50"],
                        service_p99_ms=got["p99"],
                        baseline_p50_ms=same["p50"],
                        baseline_p99_ms=same["p99"],
                        answers="ok"
                        if not (got["bad"] or got["socket_errors"])
                        else f"{got['bad']} not 2xx {got['socket_errors']}".strip(),
                    )
            finally:
                for proc in procs:
                    proc.terminate()
                    proc.wait(timeout=15)
            stored = await _created(service_url), await _created(base_url)
    report.notes.append(
        f"wrk -t1 -c{CLIENTS} {seconds:g} s per round on core {LOAD_CORE}, servers on core "
        f"{SERVER_CORE}; answers {sizes['s']} bytes (service), {sizes['b']} (baseline); "
        f"events stored: {stored[0]} service, {stored[1]} baseline"
    )
    report.notes.append(TARGET)
    return report
