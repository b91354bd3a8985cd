"""Bearer-token check: reads are public, writes and ``/api/webhooks`` need a token."""

from __future__ import annotations

from aiohttp import web

from scheduler.auth import is_valid_token
from scheduler.exceptions import Unauthorized
from scheduler.http.keys import API_TOKENS

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
PROTECTED_PREFIXES = ("/api/webhooks",)


def needs_token(request: web.Request) -> bool:
    if not request.path.startswith("/api/"):
        return False
    return request.method not in SAFE_METHODS or request.path.startswith(PROTECTED_PREFIXES)


def authorize(request: web.Request) -> None:
    """Raise :class:`Unauthorized` unless the request may go ahead."""
    # unknown routes and methods answer 404/405 whatever the token
    if needs_token(request) and request.match_info.http_exception is None:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("send the API token as 'Authorization: Bearer <token>'")
        if not is_valid_token(token.strip(), request.app[API_TOKENS]):
            raise Unauthorized("the API token is not valid")
