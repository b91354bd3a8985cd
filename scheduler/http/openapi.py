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
from scheduler.models import EventCreate, EventPage, EventPublic, EventUpdate, Problem

routes = web.RouteTableDef()

MODELS: tuple[type[BaseModel], ...] = (EventCreate, EventUpdate, EventPublic, EventPage, Problem)


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
WRITE_ERRORS = {
    "401": _problem("Missing or wrong bearer token"),
    "404": _problem("No such event"),
}


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
                    "201": _json(EventPublic, "Created"),
                    "400": _problem("Body is not a JSON object"),
                    "401": _problem("Missing or wrong bearer token"),
                    "409": _problem("Idempotency key's event was deleted"),
                    "413": _problem("Body too large"),
                    "415": _problem("Body is not JSON"),
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
                    "200": _json(EventPublic, "The event"),
                    "404": _problem("No such event"),
                },
            },
            "patch": {
                "summary": "Change an event",
                "security": SECURED,
                "requestBody": patch_body,
                "responses": {
                    "200": _json(EventPublic, "The changed event"),
                    **WRITE_ERRORS,
                    "409": _problem("The event is cancelled"),
                    "422": _problem("Invalid field, time or zone"),
                },
            },
            "delete": {
                "summary": "Delete an event",
                "security": SECURED,
                "responses": {"204": {"description": "Deleted"}, **WRITE_ERRORS},
            },
        },
        "/api/events/{id}/cancel": {
            "parameters": [EVENT_ID],
            "post": {
                "summary": "Cancel an event (it stays visible as cancelled)",
                "security": SECURED,
                "responses": {"200": _json(EventPublic, "The cancelled event"), **WRITE_ERRORS},
            },
        },
        "/healthz": {
            "get": {
                "summary": "Process liveness",
                "responses": {"200": {"description": "Alive"}},
            }
        },
        "/api/openapi.json": {
            "get": {
                "summary": "This document",
                "responses": {"200": {"description": "OpenAPI 3.1 document"}},
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
        "info": {"title": "broadcast-scheduler", "version": __version__},
        "paths": _paths(),
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


@routes.get("/api/openapi.json")
async def openapi_json(request: web.Request) -> web.Response:
    return web.json_response(document())
