"""A webhook receiver in its own process: records when each message arrived.

Run as ``python -m bench.receiver PORT``; ``GET /stats`` returns arrivals
(``webhook-id`` -> receipt time, epoch seconds), ``GET /count`` just how many,
and ``POST /reset`` clears them.
It does not verify signatures: it measures the sender, not itself.
"""

from __future__ import annotations

import json
import sys
import time

from aiohttp import web

arrivals: dict[str, float] = {}
scheduled: dict[str, str] = {}
count = 0


async def hook(request: web.Request) -> web.Response:
    global count
    body = await request.read()
    now = time.time()
    count += 1
    msg_id = request.headers.get("webhook-id", str(count))
    arrivals.setdefault(msg_id, now)
    if b"scheduled_for" in body:
        data = json.loads(body)["data"]
        scheduled[msg_id] = data.get("scheduled_for") or ""
    return web.Response(text="ok")


async def stats(request: web.Request) -> web.Response:
    return web.json_response({"count": count, "arrivals": arrivals, "scheduled": scheduled})


async def count_only(request: web.Request) -> web.Response:
    return web.json_response({"count": count, "distinct": len(arrivals)})


async def reset(request: web.Request) -> web.Response:
    global count
    arrivals.clear()
    scheduled.clear()
    count = 0
    return web.json_response({"ok": True})


def main() -> None:
    app = web.Application()
    app.router.add_post("/hook", hook)
    app.router.add_get("/stats", stats)
    app.router.add_get("/count", count_only)
    app.router.add_post("/reset", reset)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)


if __name__ == "__main__":
    main()
