"""Routes about the service itself: liveness, readiness, status, metrics."""

from __future__ import annotations

from aiohttp import web

from scheduler import __version__
from scheduler.http.keys import HEALTH, METRICS
from scheduler.metrics import CONTENT_TYPE

routes = web.RouteTableDef()


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    """The process is alive and serving HTTP (no dependency is checked)."""
    return web.json_response({"status": "ok", "version": __version__})


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    """Ready for traffic: the database answers and has the newest schema."""
    health = await request.app[HEALTH].ready()
    return web.json_response(health.body, status=200 if health.healthy else 503)


@routes.get("/status")
async def status(request: web.Request) -> web.Response:
    """Database, scheduler, backlog, lateness; 503 names the failing part."""
    health = await request.app[HEALTH].status()
    return web.json_response(health.body, status=200 if health.healthy else 503)


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    await request.app[HEALTH].refresh_gauges()
    body = request.app[METRICS].exposition()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})
