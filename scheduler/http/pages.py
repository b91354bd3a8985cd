"""Routes of the public pages: the schedule, a channel, an event, the embed, their files.

Pages come from ``services.public_pages`` as kept bytes with a strong ETag; a
matching ``If-None-Match`` gets 304. Every page is public, ``GET`` (and HEAD)
only, and sent with a strict Content-Security-Policy: scripts and styles from
this origin only (the JSON-LD block is data, not script), nothing from
anywhere else, and no framing except the embed's, whose framing sites are the
``embed_frame_ancestors`` setting. Unknown events and channels get a 404 page,
a malformed ``?channel=`` a 400 page: never a 500.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable

from aiohttp import web

from scheduler.exceptions import NotFound, StoreUnavailable
from scheduler.http.calendar import base_url
from scheduler.http.keys import ASSETS, PUBLIC_PAGES, SETTINGS
from scheduler.http.spec import Answer, Api, Param
from scheduler.models import CHANNEL_PATTERN
from scheduler.services.kept_bytes import Kept
from scheduler.services.public_pages import Missing

api = Api("pages")
routes = api.routes

_CHANNEL = re.compile(CHANNEL_PATTERN)
HTML = "text/html"

#: everything from this origin only; no inline script (JSON-LD is a data block)
_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors "
)
_SAFETY = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
}
_PAGE_HEADERS = {
    **_SAFETY,
    "Content-Security-Policy": _POLICY + "'none'",
    "X-Frame-Options": "DENY",
}
#: a year: a file's name changes with its bytes
_STATIC_CACHE = "public, max-age=31536000, immutable"

DOCUMENTED_HEADERS = {
    "ETag": "Strong tag of this page; send it in If-None-Match to get 304 until it changes",
    "Content-Security-Policy": "Same-origin scripts and styles only; frame-ancestors "
    "'none' (the embed: the embed_frame_ancestors setting)",
}
PAGE = Answer("HTML page", media_type=HTML, schema={"type": "string"}, headers=DOCUMENTED_HEADERS)
NOT_MODIFIED = Answer("Not modified since the ETag sent", headers=DOCUMENTED_HEADERS)
NOT_FOUND_PAGE = Answer(
    "A page saying what was not found", media_type=HTML, schema={"type": "string"}
)
UNAVAILABLE_PAGE = Answer(
    "The database cannot be read and the page is not kept (Retry-After)",
    media_type=HTML,
    schema={"type": "string"},
)
BAD_PAGE = Answer(
    "A page saying what is wrong with the query", media_type=HTML, schema={"type": "string"}
)
CHANNEL_FILTER = Param(
    "channel", "query", "Only this channel", {"type": "string", "pattern": CHANNEL_PATTERN}
)
CHANNEL_NAME = Param("name", "path", "Channel name", {"type": "string"})
EVENT_ID = Param("id", "path", "Event id", {"type": "string"})


def _matches(request: web.Request, etag: str) -> bool:
    sent = request.headers.get("If-None-Match")
    if sent is None:
        return False
    if sent == etag:
        return True
    tags = {t.strip().removeprefix("W/") for t in sent.split(",")}
    return "*" in tags or etag in tags


def _headers(request: web.Request, *, embed: bool) -> dict[str, str]:
    if not embed:
        return dict(_PAGE_HEADERS)
    sources = request.app[SETTINGS].embed_frame_ancestors
    return {**_SAFETY, "Content-Security-Policy": _POLICY + sources}


def _answer(request: web.Request, kept: Kept, *, embed: bool = False) -> web.Response:
    headers = _headers(request, embed=embed)
    headers["ETag"] = kept.etag
    headers["Cache-Control"] = "no-cache"  # the live state moves: always revalidate
    if _matches(request, kept.etag):
        return web.Response(status=304, headers=headers)
    return web.Response(body=kept.body, headers=headers, content_type=HTML, charset="utf-8")


def _missing(
    request: web.Request,
    status: int,
    heading: str,
    message: str,
    headers: dict[str, str] | None = None,
) -> web.Response:
    body = request.app[PUBLIC_PAGES].missing(Missing(heading, message), base_url=base_url(request))
    return web.Response(
        status=status,
        body=body,
        headers={**_PAGE_HEADERS, "Cache-Control": "no-store", **(headers or {})},
        content_type=HTML,
        charset="utf-8",
    )


#: seconds a browser is asked to wait before trying a page again in an outage
RETRY_AFTER = 5


def _unavailable(request: web.Request) -> web.Response:
    """The database cannot be read and the page is not kept: say so, as a page."""
    return _missing(
        request,
        503,
        "Temporarily unavailable",
        "The schedule cannot be read right now. Please try again in a few seconds.",
        {"Retry-After": str(RETRY_AFTER)},
    )


def _no_channel(request: web.Request, name: str) -> web.Response:
    return _missing(
        request,
        404,
        "No such channel",
        f"No event is on a channel named “{name}”. The schedule lists every channel.",
    )


async def _schedule(request: web.Request, channel: str | None, *, embed: bool) -> web.Response:
    if channel is not None and not _CHANNEL.match(channel):
        return _no_channel(request, channel)
    try:
        kept = await request.app[PUBLIC_PAGES].schedule(
            channel=channel, base_url=base_url(request), embed=embed
        )
    except NotFound:
        return _no_channel(request, channel or "")
    except StoreUnavailable:
        return _unavailable(request)
    return _answer(request, kept, embed=embed)


def _filter(request: web.Request) -> str | None:
    return request.query.get("channel") if request.query_string else None


@api.get(
    "/",
    "get_schedule_page",
    "The schedule: live now, upcoming by day, recently ended (HTML)",
    parameters=[CHANNEL_FILTER],
    responses={
        200: PAGE,
        304: NOT_MODIFIED,
        400: BAD_PAGE,
        404: NOT_FOUND_PAGE,
        503: UNAVAILABLE_PAGE,
    },
)
async def schedule_page(request: web.Request) -> web.Response:
    channel = _filter(request)
    if channel is not None and not _CHANNEL.match(channel):
        return _missing(
            request,
            400,
            "Not a channel name",
            "Channel names are 1 to 64 lower-case letters, digits, “-” and “_”.",
        )
    return await _schedule(request, channel, embed=False)


@api.get(
    "/channels/{name}",
    "get_channel_page",
    "One channel's schedule, with its feed's subscribe buttons (HTML)",
    parameters=[CHANNEL_NAME],
    responses={200: PAGE, 304: NOT_MODIFIED, 404: NOT_FOUND_PAGE, 503: UNAVAILABLE_PAGE},
)
async def channel_page(request: web.Request) -> web.Response:
    return await _schedule(request, request.match_info["name"], embed=False)


@api.get(
    "/embed",
    "get_embed_page",
    "The schedule as a compact list for an iframe (HTML)",
    parameters=[CHANNEL_FILTER],
    responses={
        200: PAGE,
        304: NOT_MODIFIED,
        400: BAD_PAGE,
        404: NOT_FOUND_PAGE,
        503: UNAVAILABLE_PAGE,
    },
)
async def embed_page(request: web.Request) -> web.Response:
    channel = _filter(request)
    if channel is not None and not _CHANNEL.match(channel):
        return _missing(
            request,
            400,
            "Not a channel name",
            "Channel names are 1 to 64 lower-case letters, digits, “-” and “_”.",
        )
    return await _schedule(request, channel, embed=True)


@api.get(
    "/embed/channels/{name}",
    "get_channel_embed_page",
    "One channel's schedule as a compact list for an iframe (HTML)",
    parameters=[CHANNEL_NAME],
    responses={200: PAGE, 304: NOT_MODIFIED, 404: NOT_FOUND_PAGE, 503: UNAVAILABLE_PAGE},
)
async def channel_embed_page(request: web.Request) -> web.Response:
    return await _schedule(request, request.match_info["name"], embed=True)


@api.get(
    "/events/{id}",
    "get_event_page",
    "One event: times in its zone and yours, live status, stream and calendar links (HTML)",
    parameters=[EVENT_ID],
    responses={200: PAGE, 304: NOT_MODIFIED, 404: NOT_FOUND_PAGE, 503: UNAVAILABLE_PAGE},
)
async def event_page(request: web.Request) -> web.Response:
    return await _one(
        request,
        request.app[PUBLIC_PAGES].event(request.match_info["id"], base_url=base_url(request)),
        "No such event",
        "There is no event at this address: it may have been deleted.",
    )


@api.get(
    "/series/{id}",
    "get_series_page",
    "A recurring series: its rule and its occurrences, live, upcoming and recently ended (HTML)",
    parameters=[Param("id", "path", "Series id", {"type": "string"})],
    responses={200: PAGE, 304: NOT_MODIFIED, 404: NOT_FOUND_PAGE, 503: UNAVAILABLE_PAGE},
)
async def series_page(request: web.Request) -> web.Response:
    return await _one(
        request,
        request.app[PUBLIC_PAGES].series_page(request.match_info["id"], base_url=base_url(request)),
        "No such series",
        "There is no recurring series at this address: it may have been deleted.",
    )


async def _one(request: web.Request, page: Awaitable[Kept], title: str, text: str) -> web.Response:
    """The page of one event or series: a 404 page when it is gone, a 503 page
    while the database is unreachable."""
    try:
        kept = await page
    except NotFound:
        return _missing(request, 404, title, text)
    except StoreUnavailable:
        return _unavailable(request)
    return _answer(request, kept)


@api.get(
    "/static/{name}",
    "get_page_file",
    "A stylesheet, script or image of the pages (its name changes with its bytes)",
    parameters=[Param("name", "path", "File name with its content hash")],
    responses={
        200: Answer(
            "The file",
            media_type="text/css",
            schema={"type": "string"},
            also=("text/javascript", "image/svg+xml"),
        ),
        404: NOT_FOUND_PAGE,
    },
)
async def page_file(request: web.Request) -> web.Response:
    asset = request.app[ASSETS].served.get(request.match_info["name"])
    if asset is None:
        return _missing(request, 404, "No such file", "This file is not part of these pages.")
    charset = "utf-8" if asset.content_type.startswith("text/") else None
    return web.Response(
        body=asset.body,
        content_type=asset.content_type,
        charset=charset,
        headers={**_SAFETY, "Cache-Control": _STATIC_CACHE},
    )
