"""Routes about the service itself: liveness for orchestrators."""

from __future__ import annotations

from aiohttp import web

from scheduler import __version__

routes = web.RouteTableDef()


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    """The process is alive and serving HTTP (no dependency is checked)."""
    return web.json_response({"status": "ok", "version": __version__})
