"""Reading request bodies: size limit, JSON syntax, then the pydantic schema."""

from __future__ import annotations

import json
from typing import TypeVar

from aiohttp import web
from pydantic import BaseModel

from scheduler.exceptions import InvalidInput

M = TypeVar("M", bound=BaseModel)


class MalformedBody(InvalidInput):
    """Raised by :func:`read_model` when the body is not a JSON object (HTTP 400)."""

    code = "malformed-json"


async def read_model(request: web.Request, model: type[M]) -> M:
    """Parse the body as JSON and validate it against ``model``.

    aiohttp enforces ``client_max_size`` while reading (413); a body that is
    not JSON is a 400; a JSON body that does not fit the schema is a 422.
    """
    content_type = request.headers.get("Content-Type", "application/json")
    if "json" not in content_type:
        raise web.HTTPUnsupportedMediaType(text="send the body as application/json")
    raw = await request.read()
    if not raw.strip():
        raise MalformedBody("the request body is empty; send a JSON object")
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise MalformedBody("the request body is not UTF-8 encoded JSON") from None
    except json.JSONDecodeError as err:
        raise MalformedBody(
            f"the request body is not valid JSON: {err.msg} at line {err.lineno} column {err.colno}"
        ) from None
    if not isinstance(data, dict):
        raise MalformedBody("the request body must be a JSON object")
    return model.model_validate(data)
