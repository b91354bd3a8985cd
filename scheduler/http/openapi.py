"""The OpenAPI 3.1 document served at ``/api/openapi.json``.

Schemas come from the same pydantic models that validate requests; a test
checks that every route the app serves is documented and that responses match
their documented schemas.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from scheduler import __version__
from scheduler.models import (
    DeliveryList,
    DeliveryPublic,
    EventCreate,
    EventPage,
    EventPublic,
    EventStatus,
    EventUpdate,
    LiveList,
    Problem,
    SubscriptionCreate,
    SubscriptionList,
    SubscriptionPublic,
    SubscriptionUpdate,
)

routes = web.RouteTableDef()

MODELS: tuple[type[BaseModel], ...] = (
    EventCreate,
    EventUpdate,
    EventPublic,
    EventPage,
    Problem,
    SubscriptionCreate,
    SubscriptionUpdate,
    SubscriptionPublic,
    SubscriptionList,
    DeliveryPublic,
    DeliveryList,
    EventStatus,
    LiveList,
)


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _json(model: type[BaseModel], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(model)}}}


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/problem+json": {"schema": _ref(Problem)}},
    }


def _param(name: str, where: str, description: str, **schema: Any) -> dict[str, Any]:
    return {
        "name": name,
        "in": where,
        "required": where == "path",
        "description": description,
        "schema": schema or {"type": "string"},
    }


EVENT_ID = _param("id", "path", "Event id")
SECURED: list[dict[str, list[str]]] = [{"bearer": []}]
IF_MATCH = _param(
    "If-Match",
    "header",
    "The ETag of the version you read: the write goes ahead only if the resource still "
    "has it (`*`: any version). Without it, the write goes ahead as before.",
)
ETAG = {"ETag": {"description": "Version of the stored resource", "schema": {"type": "string"}}}
PRECONDITION = {"412": _problem("If-Match names a version that is no longer current")}
WRITE_ERRORS = {
    "401": _problem("Missing or wrong bearer token"),
    "404": _problem("No such event"),
    **PRECONDITION,
}
BODY_ERRORS = {
    "400": _problem(
        "Body is not one JSON object, repeats a key, nests deeper than 32 levels, "
        "or holds a number of more than 18 digits, NaN or Infinity"
    ),
    "413": _problem("Body too large"),
    "415": _problem("Content-Type is not application/json (or application/*+json)"),
}
INPUT_RULES = """Rules every endpoint applies to what it is sent:

- Dates and times lie in the years 1900 to 2199 (422 otherwise).
- Text fields hold no control characters (one-line fields: none; `description`:
  line breaks and tabs only, CR LF stored as LF) and no bidirectional override or
  isolate characters (U+202A-U+202E, U+2066-U+2069) (422 naming the field).
- Numbers in query strings and headers are ASCII digits, at most 18 of them (422).
- Request bodies are one JSON object: no repeated keys, at most 32 levels deep, no
  number longer than 18 digits, no NaN/Infinity (400); `application/json` or
  `application/*+json` only (415); at most `max_body_bytes` (413).
- Events and webhooks carry an `ETag`; writes honour `If-Match` (412 on mismatch).
"""


def _paths() -> dict[str, Any]:
    body = {"content": {"application/json": {"schema": _ref(EventCreate)}}, "required": True}
    patch_body = {"content": {"application/json": {"schema": _ref(EventUpdate)}}, "required": True}
    return {
        "/api/events": {
            "post": {
                "summary": "Create an event",
                "security": SECURED,
                "parameters": [
                    _param(
                        "Idempotency-Key",
                        "header",
                        "Retries with the same key and body return the first result",
                    )
                ],
                "requestBody": body,
                "responses": {
                    "201": {**_json(EventPublic, "Created"), "headers": ETAG},
                    **BODY_ERRORS,
                    "401": _problem("Missing or wrong bearer token"),
                    "409": _problem("Idempotency key's event was deleted"),
                    "422": _problem("Invalid field, time or zone"),
                },
            },
            "get": {
                "summary": "List events by start time",
                "parameters": [
                    _param("from", "query", "Events ending after this instant", format="date-time"),
                    _param(
                        "to", "query", "Events starting before this instant", format="date-time"
                    ),
                    _param(
                        "status",
                        "query",
                        "Lifecycle state",
                        type="string",
                        enum=["upcoming", "live", "ended", "cancelled"],
                    ),
                    _param("channel", "query", "Only this channel"),
                    _param("cursor", "query", "next_cursor of the previous page"),
                    _param("limit", "query", "Page size", type="integer", minimum=1),
                ],
                "responses": {
                    "200": _json(EventPage, "A page of events"),
                    "422": _problem("Bad filter"),
                },
            },
        },
        "/api/events/{id}": {
            "parameters": [EVENT_ID],
            "get": {
                "summary": "Read an event",
                "responses": {
                    "200": {**_json(EventPublic, "The event"), "headers": ETAG},
                    "404": _problem("No such event"),
                },
            },
            "patch": {
                "summary": "Change an event",
                "security": SECURED,
                "parameters": [IF_MATCH],
                "requestBody": patch_body,
                "responses": {
                    "200": {**_json(EventPublic, "The changed event"), "headers": ETAG},
                    **BODY_ERRORS,
                    **WRITE_ERRORS,
                    "409": _problem("The event is cancelled"),
                    "422": _problem("Invalid field, time or zone"),
                },
            },
            "delete": {
                "summary": "Delete an event",
                "security": SECURED,
                "parameters": [IF_MATCH],
                "responses": {"204": {"description": "Deleted"}, **WRITE_ERRORS},
            },
        },
        "/api/events/{id}/cancel": {
            "parameters": [EVENT_ID],
            "post": {
                "summary": "Cancel an event (it stays visible as cancelled)",
                "security": SECURED,
                "parameters": [IF_MATCH],
                "responses": {
                    "200": {**_json(EventPublic, "The cancelled event"), "headers": ETAG},
                    **WRITE_ERRORS,
                },
            },
        },
        **_webhook_paths(),
        **_calendar_paths(),
        **_live_paths(),
        "/api/openapi.json": {
            "get": {
                "summary": "This document",
                "responses": {"200": {"description": "OpenAPI 3.1 document"}},
            }
        },
    }


WEBHOOK_ID = _param("id", "path", "Webhook subscription id")
DELIVERY_ID = _param("delivery_id", "path", "Delivery id (the webhook-id header)")
HOOK_ERRORS = {
    "401": _problem("Missing or wrong bearer token"),
    "404": _problem("No such webhook or delivery"),
}
HOOK_WRITE_ERRORS = {**HOOK_ERRORS, **PRECONDITION}


def _webhook_paths() -> dict[str, Any]:
    def body(model: type[BaseModel]) -> dict[str, Any]:
        return {"content": {"application/json": {"schema": _ref(model)}}, "required": True}

    return {
        "/api/webhooks": {
            "post": {
                "summary": "Register an endpoint; the response shows its secret, once",
                "security": SECURED,
                "requestBody": body(SubscriptionCreate),
                "responses": {
                    "201": {**_json(SubscriptionPublic, "Created, with `secret`"), "headers": ETAG},
                    **BODY_ERRORS,
                    "401": _problem("Missing or wrong bearer token"),
                    "422": _problem("Invalid URL, refused target or unknown type"),
                },
            },
            "get": {
                "summary": "List endpoints",
                "security": SECURED,
                "responses": {"200": _json(SubscriptionList, "Endpoints"), **HOOK_ERRORS},
            },
        },
        "/api/webhooks/{id}": {
            "parameters": [WEBHOOK_ID],
            "get": {
                "summary": "Read an endpoint",
                "security": SECURED,
                "responses": {
                    "200": {**_json(SubscriptionPublic, "The endpoint"), "headers": ETAG},
                    **HOOK_ERRORS,
                },
            },
            "patch": {
                "summary": "Change an endpoint (`active: true` re-enables it)",
                "security": SECURED,
                "parameters": [IF_MATCH],
                "requestBody": body(SubscriptionUpdate),
                "responses": {
                    "200": {**_json(SubscriptionPublic, "The endpoint"), "headers": ETAG},
                    **BODY_ERRORS,
                    "422": _problem("Invalid field"),
                    **HOOK_WRITE_ERRORS,
                },
            },
            "delete": {
                "summary": "Remove an endpoint and its delivery log",
                "security": SECURED,
                "parameters": [IF_MATCH],
                "responses": {"204": {"description": "Deleted"}, **HOOK_WRITE_ERRORS},
            },
        },
        "/api/webhooks/{id}/rotate-secret": {
            "parameters": [WEBHOOK_ID],
            "post": {
                "summary": "New secret (shown once); the old one keeps signing for a grace period",
                "security": SECURED,
                "parameters": [IF_MATCH],
                "responses": {
                    "200": {**_json(SubscriptionPublic, "With new `secret`"), "headers": ETAG},
                    **HOOK_WRITE_ERRORS,
                },
            },
        },
        "/api/webhooks/{id}/ping": {
            "parameters": [WEBHOOK_ID],
            "post": {
                "summary": "Send a signed webhook.ping now and report the attempt",
                "security": SECURED,
                "responses": {"200": _json(DeliveryPublic, "The ping delivery"), **HOOK_ERRORS},
            },
        },
        "/api/webhooks/{id}/deliveries": {
            "parameters": [WEBHOOK_ID],
            "get": {
                "summary": "Delivery log, newest first, with every attempt",
                "security": SECURED,
                "parameters": [
                    _param("limit", "query", "How many (1-200)", type="integer", minimum=1),
                    _param(
                        "state",
                        "query",
                        "Only deliveries in this state",
                        type="string",
                        enum=["pending", "delivering", "succeeded", "dead"],
                    ),
                ],
                "responses": {
                    "200": _json(DeliveryList, "Deliveries"),
                    "422": _problem("Bad filter"),
                    **HOOK_ERRORS,
                },
            },
        },
        "/api/webhooks/{id}/deliveries/{delivery_id}": {
            "parameters": [WEBHOOK_ID, DELIVERY_ID],
            "get": {
                "summary": "One delivery with its attempts",
                "security": SECURED,
                "responses": {"200": _json(DeliveryPublic, "The delivery"), **HOOK_ERRORS},
            },
        },
        "/api/webhooks/{id}/deliveries/{delivery_id}/redeliver": {
            "parameters": [WEBHOOK_ID, DELIVERY_ID],
            "post": {
                "summary": "Send the same message (same webhook-id) again now",
                "security": SECURED,
                "responses": {"200": _json(DeliveryPublic, "The delivery"), **HOOK_ERRORS},
            },
        },
    }


def _sse(summary: str) -> dict[str, Any]:
    return {
        "summary": summary,
        "description": "Server-Sent Events (`event: status`, `id:`, `retry:`, heartbeat "
        "comments). Reconnect with `Last-Event-ID` to receive what was missed.",
        "parameters": [_param("Last-Event-ID", "header", "id of the last message received")],
        "responses": {
            "200": {
                "description": "An event stream",
                "content": {"text/event-stream": {"schema": {"type": "string"}}},
            },
            "404": _problem("No such event"),
            "503": _problem("This process holds sse_max_streams streams; retry after Retry-After"),
        },
    }


def _live_paths() -> dict[str, Any]:
    health = {"type": "object", "additionalProperties": True}
    mark = {
        "security": SECURED,
        "responses": {
            "200": _json(EventPublic, "The event"),
            "409": _problem("Cancelled, or already ended"),
            **WRITE_ERRORS,
        },
    }
    return {
        "/api/events/{id}/status": {
            "parameters": [EVENT_ID],
            "get": {
                "summary": "Upcoming, live, ended or cancelled, with seconds to start and end",
                "responses": {
                    "200": _json(EventStatus, "Status now"),
                    "404": _problem("No such event"),
                },
            },
        },
        "/api/events/{id}/start": {
            "parameters": [EVENT_ID],
            "post": {"summary": "Mark the stream live now (fires event.started once)", **mark},
        },
        "/api/events/{id}/end": {
            "parameters": [EVENT_ID],
            "post": {"summary": "Mark the stream over now (fires event.ended once)", **mark},
        },
        "/api/events/{id}/status/stream": {
            "parameters": [EVENT_ID],
            "get": _sse("This event's status, pushed at every change"),
        },
        "/api/live": {
            "get": {
                "summary": "Events live right now",
                "responses": {"200": _json(LiveList, "Live events")},
            }
        },
        "/api/live/stream": {"get": _sse("Snapshot of live events, then every state change")},
        "/healthz": {
            "get": {
                "summary": "Process liveness",
                "responses": {"200": {"description": "Alive"}},
            }
        },
        "/readyz": {
            "get": {
                "summary": "Database reachable and migrated",
                "responses": {
                    "200": {
                        "description": "Ready",
                        "content": {"application/json": {"schema": health}},
                    },
                    "503": {"description": "Not ready; `failing` names the part"},
                },
            }
        },
        "/status": {
            "get": {
                "summary": "Database, scheduler, next fire time, backlog, lateness",
                "responses": {
                    "200": {
                        "description": "Healthy",
                        "content": {"application/json": {"schema": health}},
                    },
                    "503": {"description": "Unhealthy; `failing` names the part"},
                },
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus text format (bearer `metrics_token` if one is set)",
                "responses": {
                    "200": {"description": "Metrics"},
                    "401": _problem("metrics_token is set and was not sent"),
                },
            }
        },
    }


def _ics(summary: str, parameters: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "get": {
            "summary": summary + " (HEAD too; ETag/If-None-Match and If-Modified-Since give 304)",
            "parameters": parameters,
            "responses": {
                "200": {
                    "description": "RFC 5545 calendar",
                    "content": {"text/calendar": {"schema": {"type": "string"}}},
                },
                "304": {"description": "Not modified since the ETag or date sent"},
                "404": _problem("No such event"),
                "422": _problem("Bad channel name"),
            },
        }
    }


def _calendar_paths() -> dict[str, Any]:
    channel_query = _param("channel", "query", "Only this channel")
    links = {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "channel": {"type": ["string", "null"]},
            "refresh_minutes": {"type": "integer"},
            "links": {
                "type": "object",
                "properties": {
                    "ics": {"type": "string"},
                    "webcal": {"type": "string"},
                    "google_subscribe": {"type": "string"},
                },
            },
        },
    }
    return {
        "/calendar.ics": _ics("Feed of all public events", [channel_query]),
        "/channels/{channel}/calendar.ics": _ics(
            "Feed of one channel", [_param("channel", "path", "Channel name")]
        ),
        "/events/{id}.ics": _ics("One event as a calendar", [EVENT_ID]),
        "/api/calendar": {
            "get": {
                "summary": "Subscribe links (webcal://, Google Calendar) for a feed",
                "parameters": [channel_query],
                "responses": {
                    "200": {
                        "description": "Links",
                        "content": {"application/json": {"schema": links}},
                    },
                    "422": _problem("Bad channel name"),
                },
            }
        },
    }


@cache
def document() -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    for model in MODELS:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "broadcast-scheduler",
            "version": __version__,
            "description": INPUT_RULES,
        },
        "paths": _paths(),
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


@routes.get("/api/openapi.json")
async def openapi_json(request: web.Request) -> web.Response:
    return web.json_response(document())
