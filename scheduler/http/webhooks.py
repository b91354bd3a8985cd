"""Routes of ``/api/webhooks``: subscriptions, secret rotation, ping, delivery log."""

from __future__ import annotations

from aiohttp import web

from scheduler.etags import entity_tag
from scheduler.http.bodies import read_model
from scheduler.http.keys import WEBHOOKS
from scheduler.http.spec import (
    BODY_ERRORS,
    ETAG,
    IF_MATCH,
    PRECONDITION,
    UNAUTHORIZED,
    Answer,
    Api,
    Param,
    json_model,
    problem,
)
from scheduler.inputs import parse_count
from scheduler.models import (
    AttemptPublic,
    DeliveryList,
    DeliveryPublic,
    DeliveryState,
    Subscription,
    SubscriptionCreate,
    SubscriptionList,
    SubscriptionPublic,
    SubscriptionSecret,
    SubscriptionUpdate,
)
from scheduler.services.webhooks import MAX_LOG_PAGE, DeliveryView

api = Api("webhooks")
routes = api.routes

_ID = {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"}
WEBHOOK_ID = Param("id", "path", "Webhook subscription id", _ID)
DELIVERY_ID = Param("delivery_id", "path", "Delivery id (the webhook-id header)", _ID)
HOOK_ERRORS = {**UNAUTHORIZED, 404: problem("No such webhook or delivery")}
HOOK_WRITE_ERRORS = {**HOOK_ERRORS, **PRECONDITION}
DEFAULT_LOG_PAGE = 50

_FIELDS = (
    "id",
    "url",
    "types",
    "format",
    "channel",
    "description",
    "active",
    "disabled_reason",
    "failing_since",
    "created_at",
    "updated_at",
)


def subscription_public(sub: Subscription) -> SubscriptionPublic:
    """The endpoint as the API shows it: never its secret."""
    return SubscriptionPublic.model_construct(**{name: getattr(sub, name) for name in _FIELDS})


def subscription_secret(sub: Subscription) -> SubscriptionSecret:
    """The endpoint with its secret (the answer to creation and rotation only)."""
    fields = {name: getattr(sub, name) for name in _FIELDS}
    return SubscriptionSecret.model_construct(**fields, secret=sub.secret)


def _tagged(
    body: SubscriptionPublic, sub: Subscription, *, status: int = 200, **headers: str
) -> web.Response:
    return json_model(body, status=status, headers={"ETag": entity_tag(sub), **headers})


def delivery_public(view: DeliveryView) -> DeliveryPublic:
    d = view.delivery
    attempts = [
        AttemptPublic.model_construct(
            attempt=a.attempt,
            started_at=a.started_at,
            status=a.status,
            latency_ms=a.latency_ms,
            error=a.error,
            response_excerpt=a.response_excerpt,
        )
        for a in view.attempts
    ]
    return DeliveryPublic.model_construct(
        id=d.id,
        type=d.type,
        event_id=d.event_id,
        state=d.state,
        attempts=d.attempts,
        next_attempt_at=d.next_attempt_at if d.state == DeliveryState.PENDING else None,
        last_status=d.last_status,
        last_error=d.last_error,
        created_at=d.created_at,
        delivered_at=d.delivered_at,
        attempt_log=attempts,
    )


@api.post(
    "/api/webhooks",
    "create_webhook",
    "Register an endpoint; the response shows its secret, once",
    secured=True,
    body=SubscriptionCreate,
    responses={
        201: Answer(
            "Created, with `secret`",
            SubscriptionSecret,
            headers={**ETAG, "Location": "The endpoint's URL"},
        ),
        **BODY_ERRORS,
        **UNAUTHORIZED,
        422: problem("Invalid URL, refused target, unknown type or unknown format"),
    },
)
async def create_webhook(request: web.Request) -> web.Response:
    data = await read_model(request, SubscriptionCreate)
    sub = await request.app[WEBHOOKS].create(data)
    return _tagged(subscription_secret(sub), sub, status=201, Location=f"/api/webhooks/{sub.id}")


@api.get(
    "/api/webhooks",
    "list_webhooks",
    "List endpoints",
    secured=True,
    responses={200: Answer("Endpoints", SubscriptionList), **UNAUTHORIZED},
)
async def list_webhooks(request: web.Request) -> web.Response:
    subs = await request.app[WEBHOOKS].list_all()
    return json_model(
        SubscriptionList.model_construct(items=[subscription_public(s) for s in subs])
    )


@api.get(
    "/api/webhooks/{id}",
    "get_webhook",
    "Read an endpoint",
    secured=True,
    parameters=[WEBHOOK_ID],
    responses={200: Answer("The endpoint", SubscriptionPublic, headers=ETAG), **HOOK_ERRORS},
)
async def get_webhook(request: web.Request) -> web.Response:
    sub = await request.app[WEBHOOKS].get(request.match_info["id"])
    return _tagged(subscription_public(sub), sub)


@api.patch(
    "/api/webhooks/{id}",
    "update_webhook",
    "Change an endpoint (`active: true` re-enables it)",
    secured=True,
    parameters=[WEBHOOK_ID, IF_MATCH],
    body=SubscriptionUpdate,
    responses={
        200: Answer("The endpoint", SubscriptionPublic, headers=ETAG),
        **BODY_ERRORS,
        422: problem("Invalid field"),
        **HOOK_WRITE_ERRORS,
    },
)
async def update_webhook(request: web.Request) -> web.Response:
    data = await read_model(request, SubscriptionUpdate)
    sub = await request.app[WEBHOOKS].update(
        request.match_info["id"], data, if_match=request.headers.get("If-Match")
    )
    return _tagged(subscription_public(sub), sub)


@api.delete(
    "/api/webhooks/{id}",
    "delete_webhook",
    "Remove an endpoint and its delivery log",
    secured=True,
    parameters=[WEBHOOK_ID, IF_MATCH],
    responses={204: Answer("Deleted"), **HOOK_WRITE_ERRORS},
)
async def delete_webhook(request: web.Request) -> web.Response:
    await request.app[WEBHOOKS].delete(
        request.match_info["id"], if_match=request.headers.get("If-Match")
    )
    return web.Response(status=204)


@api.post(
    "/api/webhooks/{id}/rotate-secret",
    "rotate_webhook_secret",
    "New secret (shown once); the old one keeps signing for a grace period",
    secured=True,
    parameters=[WEBHOOK_ID, IF_MATCH],
    responses={
        200: Answer("With the new `secret`", SubscriptionSecret, headers=ETAG),
        **HOOK_WRITE_ERRORS,
    },
)
async def rotate_secret(request: web.Request) -> web.Response:
    sub = await request.app[WEBHOOKS].rotate_secret(
        request.match_info["id"], if_match=request.headers.get("If-Match")
    )
    return _tagged(subscription_secret(sub), sub)


@api.post(
    "/api/webhooks/{id}/ping",
    "ping_webhook",
    "Send a webhook.ping now (a chat message for a chat format) and report the attempt",
    secured=True,
    parameters=[WEBHOOK_ID],
    responses={200: Answer("The ping delivery", DeliveryPublic), **HOOK_ERRORS},
)
async def ping_webhook(request: web.Request) -> web.Response:
    view = await request.app[WEBHOOKS].ping(request.match_info["id"])
    return json_model(delivery_public(view))


@api.get(
    "/api/webhooks/{id}/deliveries",
    "list_deliveries",
    "Delivery log, newest first, with every attempt",
    secured=True,
    parameters=[
        WEBHOOK_ID,
        Param(
            "limit",
            "query",
            f"How many (default {DEFAULT_LOG_PAGE})",
            {"type": "integer", "minimum": 1, "maximum": MAX_LOG_PAGE},
        ),
        Param(
            "state",
            "query",
            "Only deliveries in this state",
            {"type": "string", "enum": [s.value for s in DeliveryState]},
        ),
    ],
    responses={
        200: Answer("Deliveries", DeliveryList),
        422: problem("Bad filter"),
        **HOOK_ERRORS,
    },
)
async def list_deliveries(request: web.Request) -> web.Response:
    limit = parse_count(
        request.query.get("limit", str(DEFAULT_LOG_PAGE)),
        field="limit",
        minimum=1,
        maximum=MAX_LOG_PAGE,
    )
    views = await request.app[WEBHOOKS].deliveries(
        request.match_info["id"], limit=limit, state=request.query.get("state")
    )
    return json_model(DeliveryList.model_construct(items=[delivery_public(v) for v in views]))


@api.get(
    "/api/webhooks/{id}/deliveries/{delivery_id}",
    "get_delivery",
    "One delivery with its attempts",
    secured=True,
    parameters=[WEBHOOK_ID, DELIVERY_ID],
    responses={200: Answer("The delivery", DeliveryPublic), **HOOK_ERRORS},
)
async def get_delivery(request: web.Request) -> web.Response:
    view = await request.app[WEBHOOKS].delivery(
        request.match_info["id"], request.match_info["delivery_id"]
    )
    return json_model(delivery_public(view))


@api.post(
    "/api/webhooks/{id}/deliveries/{delivery_id}/redeliver",
    "redeliver",
    "Send the same message (same webhook-id) again now",
    secured=True,
    parameters=[WEBHOOK_ID, DELIVERY_ID],
    responses={200: Answer("The delivery", DeliveryPublic), **HOOK_ERRORS},
)
async def redeliver(request: web.Request) -> web.Response:
    view = await request.app[WEBHOOKS].redeliver(
        request.match_info["id"], request.match_info["delivery_id"]
    )
    return json_model(delivery_public(view))
