"""Errors as RFC 9457 ``application/problem+json``: the one place that maps them.

Every error leaves the server through :func:`error_answer` (called by the
one middleware, ``scheduler.http.observe``): the domain
tree (``scheduler.exceptions``) by kind, aiohttp's own HTTP errors (404, 405,
413) with their status, pydantic validation errors as 422 naming each field.
Anything else is a bug: it is logged with its traceback and answered with a
plain 500 that reveals nothing.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from scheduler.exceptions import (
    AmbiguousLocalTime,
    Conflict,
    InvalidInput,
    NotFound,
    Overloaded,
    PreconditionFailed,
    SchedulerError,
    StoreUnavailable,
    TooLarge,
    Unauthorized,
)
from scheduler.http.keys import SETTINGS

logger = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"

_STATUS: list[tuple[type[SchedulerError], int]] = [
    (InvalidInput, 422),
    (NotFound, 404),
    (Conflict, 409),
    (PreconditionFailed, 412),
    (Unauthorized, 401),
    (StoreUnavailable, 503),
    (TooLarge, 413),
    (Overloaded, 503),
]

_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    412: "Precondition failed",
    413: "Request body too large",
    415: "Unsupported media type",
    422: "Invalid input",
    500: "Internal server error",
    503: "Service unavailable",
}


def problem(
    status: int,
    detail: str,
    *,
    code: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> web.Response:
    body: dict[str, Any] = {
        "type": f"/problems/{code}" if code else "about:blank",
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    if errors:
        body["errors"] = errors
    body.update(extra)
    return web.json_response(body, status=status, content_type=PROBLEM_JSON, headers=headers)


def validation_problem(err: ValidationError) -> web.Response:
    errors = []
    for item in err.errors():
        field = ".".join(str(part) for part in item["loc"]) or None
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            message = "unknown field; check its spelling against the API documentation"
        elif item["type"] == "missing":
            message = "this field is required"
        errors.append({"field": field, "message": message})
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    return problem(422, detail, code="invalid-input", errors=errors)


def domain_problem(err: SchedulerError) -> web.Response:
    status = next((code for kind, code in _STATUS if isinstance(err, kind)), 500)
    if err.code in ("malformed-json", "bad-feed-query"):
        status = 400
    extra: dict[str, Any] = {}
    errors = None
    if isinstance(err, InvalidInput) and err.field:
        errors = [{"field": err.field, "message": err.message}]
    if isinstance(err, AmbiguousLocalTime):
        extra["offsets"] = err.offsets
    headers = {"WWW-Authenticate": 'Bearer realm="broadcast-scheduler"'} if status == 401 else None
    if isinstance(err, StoreUnavailable):
        logger.warning("request failed: %s", err.message, extra={"action": "request"})
    detail = f"{errors[0]['field']}: {err.message}" if errors else err.message
    return problem(status, detail, code=err.code, errors=errors, headers=headers, **extra)


def error_answer(request: web.Request, err: Exception) -> web.Response | None:
    """The problem answering ``err`` (None: not an error, let aiohttp send it)."""
    if isinstance(err, SchedulerError):
        return domain_problem(err)
    if isinstance(err, ValidationError):
        return validation_problem(err)
    if isinstance(err, web.HTTPException):
        if err.status < 400:
            return None
        detail = err.text if err.text and not err.text.startswith(f"{err.status}:") else err.reason
        if err.status == 413:
            detail = (
                f"the request body is larger than the {request.app[SETTINGS].max_body_bytes} bytes "
                "this server accepts"
            )
        elif err.status == 404:
            detail = f"nothing at {request.path}"
        elif err.status == 405:
            detail = f"{request.method} is not allowed on {request.path}"
        headers = {k: v for k, v in err.headers.items() if k.lower() == "allow"}
        return problem(err.status, detail, headers=headers or None)
    logger.exception("unhandled error", extra={"action": "request", "path": request.path})
    return problem(500, "the server failed to handle this request; it has been logged")
