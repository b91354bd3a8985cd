"""iCal routes: the feeds, one event's .ics, and the subscribe links.

Feeds are served from the feed service's cached bytes with a strong ETag,
Last-Modified and Cache-Control; a matching ``If-None-Match`` (or, without
one, ``If-Modified-Since``) gets 304. HEAD is answered by the same handlers.
"""

from __future__ import annotations

import re
from email.utils import format_datetime, parsedate_to_datetime

from aiohttp import web

from scheduler.calendar.links import feed_links
from scheduler.exceptions import InvalidInput
from scheduler.http.keys import FEEDS, SETTINGS
from scheduler.models import CHANNEL_PATTERN
from scheduler.services.feeds import RenderedFeed

routes = web.RouteTableDef()

CONTENT_TYPE = "text/calendar"


def base_url(request: web.Request) -> str:
    """Public base URL for links: the setting, or what this request was sent to."""
    configured = request.app[SETTINGS].public_base_url
    return configured.rstrip("/") if configured else f"{request.scheme}://{request.host}"


def _not_modified(request: web.Request, feed: RenderedFeed) -> bool:
    inm = request.headers.get("If-None-Match")
    if inm is not None:
        tags = {t.strip().removeprefix("W/") for t in inm.split(",")}
        return "*" in tags or feed.etag in tags
    ims = request.headers.get("If-Modified-Since")
    if ims is None:
        return False
    try:
        since = parsedate_to_datetime(ims)
    except (TypeError, ValueError):
        return False
    if since.tzinfo is None:
        return False
    return feed.last_modified.replace(microsecond=0) <= since


def _respond(request: web.Request, feed: RenderedFeed) -> web.Response:
    headers = {
        "ETag": feed.etag,
        "Last-Modified": format_datetime(feed.last_modified, usegmt=True),
        "Cache-Control": f"public, max-age={request.app[SETTINGS].feed_max_age_seconds}",
    }
    if _not_modified(request, feed):
        return web.Response(status=304, headers=headers)
    headers["Content-Disposition"] = f'inline; filename="{feed.filename}"'
    return web.Response(body=feed.body, headers=headers, content_type=CONTENT_TYPE, charset="utf-8")


def _channel(name: str | None) -> str | None:
    if name is not None and not re.match(CHANNEL_PATTERN, name):
        raise InvalidInput("channel names are lower-case letters, digits, - and _", field="channel")
    return name


@routes.get("/calendar.ics")
async def calendar_feed(request: web.Request) -> web.Response:
    feed = await request.app[FEEDS].calendar(_channel(request.query.get("channel")))
    return _respond(request, feed)


@routes.get("/channels/{channel}/calendar.ics")
async def channel_feed(request: web.Request) -> web.Response:
    feed = await request.app[FEEDS].calendar(_channel(request.match_info["channel"]))
    return _respond(request, feed)


@routes.get("/events/{id}.ics")
async def event_feed(request: web.Request) -> web.Response:
    feed = await request.app[FEEDS].event(request.match_info["id"])
    return _respond(request, feed)


@routes.get("/api/calendar")
async def calendar_links(request: web.Request) -> web.Response:
    """Subscribe links for the whole feed, or one channel's (``?channel=``)."""
    channel = _channel(request.query.get("channel"))
    settings = request.app[SETTINGS]
    return web.json_response(
        {
            "name": settings.calendar_name
            if not channel
            else f"{settings.calendar_name}: {channel}",
            "channel": channel,
            "refresh_minutes": settings.feed_refresh_minutes,
            "links": feed_links(base_url(request), channel),
        }
    )
