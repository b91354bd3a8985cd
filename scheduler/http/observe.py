"""The front of every request: the token check, errors as problems, one log line
and the Prometheus counters.

The line names the path and only the *names* of query parameters: a client
that wrongly sends its token as ``?token=...`` must not put it in our log.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from aiohttp import web

from scheduler.http.auth import authorize
from scheduler.http.keys import METRICS
from scheduler.http.problems import error_answer

logger = logging.getLogger("scheduler.http.access")


#: longest path or list of query names a log line repeats (a stranger picks them)
MAX_LOGGED = 200


def logged_target(request: web.Request) -> str:
    """``/path?name&other``: the request target without any query value."""
    names = "&".join(dict.fromkeys(request.query.keys()))
    target = request.path[:MAX_LOGGED]
    return f"{target}?{names[:MAX_LOGGED]}" if names else target


def route_name(request: web.Request) -> str:
    """The route template (``/api/events/{id}``), so metrics stay low-cardinality."""
    info = request.match_info
    if info.http_exception is not None or info.route.resource is None:
        return "unmatched"
    return info.route.resource.canonical


@web.middleware
async def front_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    """The app's one middleware (each layer costs every request): the token check
    (``http.auth``), errors as problems (``http.problems``), then the counters
    and the log line."""
    started = time.perf_counter()
    status = 500
    try:
        try:
            authorize(request)
            response: web.StreamResponse = await handler(request)
        except Exception as err:
            answer = error_answer(request, err)
            if answer is None:
                raise
            response = answer
        status = response.status
        return response
    except web.HTTPException as err:
        status = err.status
        raise
    finally:
        elapsed = time.perf_counter() - started
        route = route_name(request)
        # streams last as long as their client stays: counted, not timed
        timing = None if route.endswith("/stream") else elapsed
        request.app[METRICS].requests.count(request.method, route, status, timing)
        if logger.isEnabledFor(logging.INFO):  # the dict below costs on every request
            extra: dict[str, Any] = {
                "action": "request",
                "method": request.method,
                "path": request.path[:MAX_LOGGED],
                "status": status,
                "ms": round(elapsed * 1000, 2),
            }
            if "id" in request.match_info:
                key = "event_id" if "/events/" in route else "subscription_id"
                extra[key] = request.match_info["id"]
            logger.info("%s %s %s", request.method, logged_target(request), status, extra=extra)
