"""Routes about the service itself: liveness, readiness, status, metrics.

``/metrics`` is open by default, as Prometheus expects on a private network;
with the setting ``metrics_token`` it answers only a scraper that sends
``Authorization: Bearer <metrics_token>`` (401 problem+json otherwise).
"""

from __future__ import annotations

import hmac

from aiohttp import web

from scheduler import __version__
from scheduler.exceptions import Unauthorized
from scheduler.http.keys import HEALTH, METRICS, SETTINGS
from scheduler.http.spec import Answer, Api, json_model, problem
from scheduler.metrics import CONTENT_TYPE
from scheduler.models import Liveness, Readiness, ServiceStatus

api = Api("service")
routes = api.routes

#: the liveness answer never changes while the process runs
_ALIVE = Liveness(status="ok", version=__version__).model_dump_json().encode()


@api.get(
    "/healthz",
    "get_liveness",
    "Process liveness",
    responses={200: Answer("Alive", Liveness)},
)
async def healthz(request: web.Request) -> web.Response:
    """The process is alive and serving HTTP (no dependency is checked)."""
    return web.Response(body=_ALIVE, content_type="application/json")


@api.get(
    "/readyz",
    "get_readiness",
    "Database reachable, migrated and taking writes",
    responses={
        200: Answer("Ready", Readiness),
        503: Answer("Not ready; `failing` names the part", Readiness),
    },
)
async def readyz(request: web.Request) -> web.Response:
    """Ready for traffic: the database answers and has the newest schema."""
    health = await request.app[HEALTH].ready()
    # the health service gathers plain data; the model is what the document shows
    body = Readiness.model_validate(health.body)
    return json_model(body, status=200 if health.healthy else 503)


@api.get(
    "/status",
    "get_status",
    "Database, scheduler, next fire time, backlog, lateness",
    responses={
        200: Answer("Healthy", ServiceStatus),
        503: Answer("Unhealthy; `failing` names the part", ServiceStatus),
    },
)
async def status(request: web.Request) -> web.Response:
    """Database, scheduler, backlog, lateness; 503 names the failing part."""
    health = await request.app[HEALTH].status()
    body = ServiceStatus.model_validate(health.body)
    return json_model(body, status=200 if health.healthy else 503)


def _check_metrics_token(request: web.Request) -> None:
    """Refuse a scrape without the configured ``metrics_token`` (if one is set)."""
    token = request.app[SETTINGS].metrics_token
    if not token:
        return
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    # compared in constant time, as bytes (a non-ASCII header must not raise)
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        given.strip().encode("utf-8", "surrogateescape"), token.encode()
    ):
        raise Unauthorized(
            "/metrics needs the metrics token (setting metrics_token): send "
            "'Authorization: Bearer <metrics_token>'"
        )


@api.get(
    "/metrics",
    "get_metrics",
    "Prometheus text format (bearer `metrics_token` if one is set)",
    responses={
        200: Answer("Metrics", media_type="text/plain", schema={"type": "string"}),
        401: problem("metrics_token is set and was not sent"),
    },
)
async def metrics(request: web.Request) -> web.Response:
    """Prometheus text format; behind ``metrics_token`` when that is set."""
    _check_metrics_token(request)
    await request.app[HEALTH].refresh_gauges()
    body = request.app[METRICS].exposition()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})
