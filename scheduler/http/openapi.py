"""The OpenAPI 3.1 document served at ``/api/openapi.json``, assembled from the routes.

Nothing here restates a route: every handler declares its operation next to
itself (``scheduler.http.spec``), and the document is built by walking the
app's router and reading each route's declaration; the schemas are generated
from the pydantic models those declarations name (request bodies in
validation mode, responses in serialisation mode). A served route without a
declaration is an error at the first request for the document.
"""

from __future__ import annotations

import json
import weakref
from collections.abc import Iterable, Mapping
from typing import Any

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from scheduler import __version__
from scheduler.config import Settings

# the route modules are imported for their declarations (document() without an app)
from scheduler.http import calendar, events, live, service, webhooks  # noqa: F401
from scheduler.http.keys import SETTINGS
from scheduler.http.spec import DECLARED, OPERATIONS, Answer, Api, Handler, Operation

api = Api("meta")
routes = api.routes

REF = "#/components/schemas/{model}"

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


Refs = Mapping[tuple[Any, JsonSchemaMode], dict[str, Any]]


def _answer(answer: Answer, refs: Refs) -> Any:
    out: dict[str, Any] = {"description": answer.description}
    if answer.model is not None:
        out["content"] = {answer.media_type: {"schema": refs[(answer.model, "serialization")]}}
    elif answer.schema is not None:
        out["content"] = {
            media: {"schema": dict(answer.schema)} for media in (answer.media_type, *answer.also)
        }
    if answer.headers:
        out["headers"] = {
            name: {"description": text, "schema": {"type": "string"}}
            for name, text in answer.headers.items()
        }
    return out


def _operation(op: Operation, settings: Settings, refs: Refs) -> dict[str, Any]:
    out: dict[str, Any] = {"operationId": op.operation_id, "summary": op.summary}
    if op.description:
        out["description"] = op.description
    if op.tag:
        out["tags"] = [op.tag]
    if op.secured:
        out["security"] = [{"bearer": []}]
    if op.parameters:
        out["parameters"] = [p.render(settings) for p in op.parameters]
    if op.body is not None:
        out["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": refs[(op.body, "validation")]}},
        }
    elif op.raw_body is not None:
        out["requestBody"] = {
            "required": True,
            "content": {media: {"schema": dict(schema)} for media, schema in op.raw_body.items()},
        }
    out["responses"] = {
        str(status): _answer(answer, refs) for status, answer in sorted(op.responses.items())
    }
    return out


def _models(ops: Iterable[Operation]) -> list[tuple[type[BaseModel], JsonSchemaMode]]:
    wanted: dict[tuple[type[BaseModel], JsonSchemaMode], None] = {}
    for op in ops:
        if op.body is not None:
            wanted[(op.body, "validation")] = None
        for answer in op.responses.values():
            if answer.model is not None:
                wanted[(answer.model, "serialization")] = None
    return list(wanted)


Served = tuple[tuple[str, str, Handler], ...]


def _served(router: web.UrlDispatcher) -> Served:
    """(method, path template, handler) of every route, HEAD left out (it follows GET)."""
    found = []
    for route in router.routes():
        if route.method in ("HEAD", "*") or route.resource is None:
            continue
        found.append((route.method, route.resource.canonical, route.handler))
    return tuple(found)


def _assemble(served: Served, settings: Settings) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    ops: list[tuple[str, str, Operation]] = []
    for method, path, handler in served:
        op = OPERATIONS.get(handler)
        if op is None:
            name = getattr(handler, "__qualname__", repr(handler))
            raise LookupError(f"{method} {path} ({name}) declares no operation (http/spec.py)")
        ops.append((method, path, op))
    schemas, defs = models_json_schema(_models(op for _, _, op in ops), ref_template=REF)
    for method, path, op in ops:
        paths.setdefault(path, {})[method.lower()] = _operation(op, settings, schemas)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "broadcast-scheduler",
            "version": __version__,
            "description": INPUT_RULES,
        },
        "paths": paths,
        "components": {
            "schemas": defs.get("$defs", {}),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


def document(app: web.Application | None = None) -> dict[str, Any]:
    """The document ``app`` serves; without an app, that of every declared route."""
    if app is None:
        return _assemble(tuple(DECLARED), Settings())
    return json.loads(_body(app))  # type: ignore[no-any-return]


#: each app's document, built at its first request (routes and settings are fixed by then)
_BODIES: weakref.WeakKeyDictionary[web.Application, bytes] = weakref.WeakKeyDictionary()


def _body(app: web.Application) -> bytes:
    body = _BODIES.get(app)
    if body is None:
        body = _BODIES[app] = json.dumps(_assemble(_served(app.router), app[SETTINGS])).encode()
    return body


@api.get(
    "/api/openapi.json",
    "get_openapi_document",
    "This document",
    responses={
        200: Answer("OpenAPI 3.1 document", schema={"type": "object"}),
    },
)
async def openapi_json(request: web.Request) -> web.Response:
    return web.Response(body=_body(request.app), content_type="application/json")
