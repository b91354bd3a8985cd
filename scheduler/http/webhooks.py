"""Routes of ``/api/webhooks``: subscriptions, secret rotation, ping, delivery log."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from scheduler.etags import entity_tag
from scheduler.http.bodies import read_model
from scheduler.http.keys import WEBHOOKS
from scheduler.inputs import parse_count
from scheduler.models import DeliveryAttempt, Subscription, SubscriptionCreate, SubscriptionUpdate
from scheduler.services.webhooks import MAX_LOG_PAGE, DeliveryView
from scheduler.timezones import isoformat_utc

routes = web.RouteTableDef()


def subscription_public(sub: Subscription, *, with_secret: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": sub.id,
        "url": sub.url,
        "types": sub.types,
        "channel": sub.channel,
        "description": sub.description,
        "active": sub.active,
        "disabled_reason": sub.disabled_reason,
        "failing_since": isoformat_utc(sub.failing_since) if sub.failing_since else None,
        "created_at": isoformat_utc(sub.created_at),
        "updated_at": isoformat_utc(sub.updated_at),
    }
    if with_secret:
        body["secret"] = sub.secret
    return body


def _tagged(
    sub: Subscription, *, status: int = 200, with_secret: bool = False, **headers: str
) -> web.Response:
    body = subscription_public(sub, with_secret=with_secret)
    return web.json_response(body, status=status, headers={"ETag": entity_tag(sub), **headers})


def _attempt(a: DeliveryAttempt) -> dict[str, Any]:
    return {
        "attempt": a.attempt,
        "started_at": isoformat_utc(a.started_at),
        "status": a.status,
        "latency_ms": a.latency_ms,
        "error": a.error,
        "response_excerpt": a.response_excerpt,
    }


def delivery_public(view: DeliveryView) -> dict[str, Any]:
    d = view.delivery
    return {
        "id": d.id,
        "type": d.type,
        "event_id": d.event_id,
        "state": d.state,
        "attempts": d.attempts,
        "next_attempt_at": isoformat_utc(d.next_attempt_at) if d.state == "pending" else None,
        "last_status": d.last_status,
        "last_error": d.last_error,
        "created_at": isoformat_utc(d.created_at),
        "delivered_at": isoformat_utc(d.delivered_at) if d.delivered_at else None,
        "attempt_log": [_attempt(a) for a in view.attempts],
    }


@routes.post("/api/webhooks")
async def create_webhook(request: web.Request) -> web.Response:
    data = await read_model(request, SubscriptionCreate)
    sub = await request.app[WEBHOOKS].create(data)
    return _tagged(sub, status=201, with_secret=True, Location=f"/api/webhooks/{sub.id}")


@routes.get("/api/webhooks")
async def list_webhooks(request: web.Request) -> web.Response:
    subs = await request.app[WEBHOOKS].list_all()
    return web.json_response({"items": [subscription_public(s) for s in subs]})


@routes.get("/api/webhooks/{id}")
async def get_webhook(request: web.Request) -> web.Response:
    sub = await request.app[WEBHOOKS].get(request.match_info["id"])
    return _tagged(sub)


@routes.patch("/api/webhooks/{id}")
async def update_webhook(request: web.Request) -> web.Response:
    data = await read_model(request, SubscriptionUpdate)
    sub = await request.app[WEBHOOKS].update(
        request.match_info["id"], data, if_match=request.headers.get("If-Match")
    )
    return _tagged(sub)


@routes.delete("/api/webhooks/{id}")
async def delete_webhook(request: web.Request) -> web.Response:
    await request.app[WEBHOOKS].delete(
        request.match_info["id"], if_match=request.headers.get("If-Match")
    )
    return web.Response(status=204)


@routes.post("/api/webhooks/{id}/rotate-secret")
async def rotate_secret(request: web.Request) -> web.Response:
    sub = await request.app[WEBHOOKS].rotate_secret(
        request.match_info["id"], if_match=request.headers.get("If-Match")
    )
    return _tagged(sub, with_secret=True)


@routes.post("/api/webhooks/{id}/ping")
async def ping_webhook(request: web.Request) -> web.Response:
    view = await request.app[WEBHOOKS].ping(request.match_info["id"])
    return web.json_response(delivery_public(view))


@routes.get("/api/webhooks/{id}/deliveries")
async def list_deliveries(request: web.Request) -> web.Response:
    limit = parse_count(
        request.query.get("limit", "50"), field="limit", minimum=1, maximum=MAX_LOG_PAGE
    )
    views = await request.app[WEBHOOKS].deliveries(
        request.match_info["id"], limit=limit, state=request.query.get("state")
    )
    return web.json_response({"items": [delivery_public(v) for v in views]})


@routes.get("/api/webhooks/{id}/deliveries/{delivery_id}")
async def get_delivery(request: web.Request) -> web.Response:
    view = await request.app[WEBHOOKS].delivery(
        request.match_info["id"], request.match_info["delivery_id"]
    )
    return web.json_response(delivery_public(view))


@routes.post("/api/webhooks/{id}/deliveries/{delivery_id}/redeliver")
async def redeliver(request: web.Request) -> web.Response:
    view = await request.app[WEBHOOKS].redeliver(
        request.match_info["id"], request.match_info["delivery_id"]
    )
    return web.json_response(delivery_public(view))
