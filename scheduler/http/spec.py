"""What each route takes and answers, declared next to its handler.

A route module makes one :class:`Api` and declares every route through it::

    api = Api()
    routes = api.routes

    @api.get("/api/events/{id}", "get_event", "Read an event",
             parameters=[EVENT_ID], responses={200: Answer("The event", EventPublic)})
    async def get_event(request: web.Request) -> web.Response: ...

The handler stays a plain aiohttp function and errors stay problem+json (the
error middleware); the declaration only records an :class:`Operation` for the
handler. ``scheduler.http.openapi`` walks the app's router and assembles the
document from these records, so a route cannot be served undocumented nor
documented without being served. Responses are the pydantic models declared
here, serialised by :func:`json_model`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from aiohttp import web
from pydantic import BaseModel

from scheduler.config import Settings
from scheduler.http.problems import PROBLEM_JSON
from scheduler.models import Problem

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
H = TypeVar("H", bound=Handler)
#: a parameter's JSON schema; a callable when it depends on settings (``page_size_max``)
SchemaSource = Mapping[str, Any] | Callable[[Settings], Mapping[str, Any]]


@dataclass(frozen=True)
class Param:
    """One query, header or path parameter, with the constraints the server enforces."""

    name: str
    where: Literal["query", "header", "path"]
    description: str
    schema: SchemaSource = field(default_factory=lambda: {"type": "string"})
    required: bool = False

    def render(self, settings: Settings) -> dict[str, Any]:
        schema = self.schema(settings) if callable(self.schema) else self.schema
        return {
            "name": self.name,
            "in": self.where,
            "required": self.required or self.where == "path",
            "description": self.description,
            "schema": dict(schema),
        }


@dataclass(frozen=True)
class Answer:
    """One documented response: a model (JSON), a raw schema (other media types), or none."""

    description: str
    model: type[BaseModel] | None = None
    media_type: str = "application/json"
    schema: Mapping[str, Any] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)  # name -> description
    #: further media types the same schema may come as (a route serving files)
    also: tuple[str, ...] = ()


def problem(description: str) -> Answer:
    """An RFC 9457 problem answer (what the error middleware sends)."""
    return Answer(description, Problem, media_type=PROBLEM_JSON)


@dataclass(frozen=True)
class Operation:
    """What one route takes and answers, as the OpenAPI document shows it."""

    operation_id: str
    summary: str
    responses: Mapping[int, Answer]
    parameters: Sequence[Param] = ()
    body: type[BaseModel] | None = None
    #: a body that is not JSON: media type -> schema (``text/calendar`` for imports)
    raw_body: Mapping[str, Mapping[str, Any]] | None = None
    secured: bool = False
    description: str | None = None
    tag: str | None = None


#: every declared operation by handler: the document reads it through the router
OPERATIONS: dict[Handler, Operation] = {}
#: every declaration as (method, path, handler), for a document without an app
DECLARED: list[tuple[str, str, Handler]] = []


class Api:
    """A route table whose routes say what they take and answer."""

    def __init__(self, tag: str | None = None) -> None:
        self.routes = web.RouteTableDef()
        self.tag = tag

    def route(
        self, method: str, path: str, operation_id: str, summary: str, **details: Any
    ) -> Callable[[H], H]:
        operation = Operation(operation_id, summary, tag=self.tag, **details)

        def declare(handler: H) -> H:
            if handler in OPERATIONS:
                raise ValueError(f"{handler.__qualname__} is declared twice")
            OPERATIONS[handler] = operation
            DECLARED.append((method, path, handler))
            self.routes.route(method, path)(handler)
            return handler

        return declare

    def get(self, path: str, operation_id: str, summary: str, **details: Any) -> Callable[[H], H]:
        return self.route("GET", path, operation_id, summary, **details)

    def post(self, path: str, operation_id: str, summary: str, **details: Any) -> Callable[[H], H]:
        return self.route("POST", path, operation_id, summary, **details)

    def patch(self, path: str, operation_id: str, summary: str, **details: Any) -> Callable[[H], H]:
        return self.route("PATCH", path, operation_id, summary, **details)

    def delete(
        self, path: str, operation_id: str, summary: str, **details: Any
    ) -> Callable[[H], H]:
        return self.route("DELETE", path, operation_id, summary, **details)


def json_model(
    model: BaseModel, *, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    """``model`` as the JSON response the document describes (pydantic's serialiser)."""
    return web.Response(
        body=model.__pydantic_serializer__.to_json(model),
        status=status,
        headers=headers,
        content_type="application/json",
    )


# --- pieces many routes share ---------------------------------------------------------

ETAG = {"ETag": "Version of the stored resource; send it back in If-Match"}
IF_MATCH = Param(
    "If-Match",
    "header",
    "The ETag of the version you read: the write goes ahead only if the resource still "
    "has it (`*`: any version). Without it, the write goes ahead as before; any other "
    "value, an empty one included, is answered 412.",
)
UNAUTHORIZED = {401: problem("Missing or wrong bearer token")}
PRECONDITION = {412: problem("If-Match names a version that is no longer current")}
BODY_ERRORS = {
    400: problem(
        "Body is empty or not one JSON object, repeats a key, nests deeper than 32 levels, "
        "or holds a number of more than 18 digits, NaN or Infinity"
    ),
    413: problem("Body too large"),
    415: problem("Content-Type is not application/json (or application/*+json)"),
}
