"""Reading request bodies: media type, size limit, strict JSON, then the pydantic schema.

The JSON reader is stricter than ``json.loads``: it refuses what a careless or
hostile client can send that the standard parser lets through or chokes on:
a key given twice (which value did they mean?), ``NaN``/``Infinity`` (not
JSON), integers longer than :data:`scheduler.inputs.MAX_DIGITS` digits, and
nesting deeper than :data:`scheduler.inputs.MAX_JSON_DEPTH` levels. Each is a
400 that says what was wrong.
"""

from __future__ import annotations

import json
from typing import Any, NoReturn, TypeVar

from aiohttp import web
from pydantic import BaseModel

from scheduler.exceptions import InvalidInput
from scheduler.inputs import MAX_DIGITS, MAX_JSON_DEPTH

M = TypeVar("M", bound=BaseModel)


class MalformedBody(InvalidInput):
    """Raised by :func:`read_model` when the body is not a JSON object (HTTP 400)."""

    code = "malformed-json"


def _refuse(message: str) -> NoReturn:
    raise MalformedBody(message)


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            _refuse(f"the key {key[:64]!r} appears twice in one object; send it once")
        result[key] = value
    return result


def _integer(text: str) -> int:
    if len(text.lstrip("-")) > MAX_DIGITS:
        _refuse(f"a number in the body has more than {MAX_DIGITS} digits")
    return int(text)


def _real(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        _refuse(f"the number {text[:40]} is too large")
    return value


def _constant(name: str) -> NoReturn:
    _refuse(f"{name} is not a JSON value; send a number or null")


def _depth_ok(value: Any) -> bool:
    """Whether ``value`` nests at most :data:`MAX_JSON_DEPTH` levels (iteratively)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            return False
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return True


def parse_json(raw: bytes) -> Any:
    """Parse a request body by the rules in this module's docstring."""
    too_deep = f"the request body nests deeper than {MAX_JSON_DEPTH} levels"
    try:
        data = json.loads(
            raw.decode("utf-8"),
            object_pairs_hook=_pairs,
            parse_int=_integer,
            parse_float=_real,
            parse_constant=_constant,
        )
    except UnicodeDecodeError:
        raise MalformedBody("the request body is not UTF-8 encoded JSON") from None
    except json.JSONDecodeError as err:
        raise MalformedBody(
            f"the request body is not valid JSON: {err.msg} at line {err.lineno} column {err.colno}"
        ) from None
    except RecursionError:
        raise MalformedBody(too_deep) from None
    if not _depth_ok(data):
        raise MalformedBody(too_deep)
    return data


def _is_json(media_type: str) -> bool:
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


async def read_model(request: web.Request, model: type[M]) -> M:
    """Parse the body as JSON and validate it against ``model``.

    The media type must be ``application/json`` (or ``application/*+json``);
    none at all is read as JSON. aiohttp enforces ``client_max_size`` while
    reading (413); a body that is not JSON is a 400; a JSON body that does not
    fit the schema is a 422.
    """
    if "Content-Type" in request.headers and not _is_json(request.content_type):
        raise web.HTTPUnsupportedMediaType(
            text=f"send the body as application/json, not {request.content_type[:100]}"
        )
    raw = await request.read()
    if not raw.strip():
        raise MalformedBody("the request body is empty; send a JSON object")
    data = parse_json(raw)
    if not isinstance(data, dict):
        raise MalformedBody("the request body must be a JSON object")
    return model.model_validate(data)
