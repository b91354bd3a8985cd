"""iCal routes: the feeds, one event's .ics, and the subscribe links.

Feeds are served from the feed service's cached bytes with a strong ETag,
Last-Modified and Cache-Control; a matching ``If-None-Match`` (or, without
one, ``If-Modified-Since``) gets 304. HEAD is answered by the same handlers.
"""

from __future__ import annotations

import re
from email.utils import parsedate_to_datetime

from aiohttp import web

from scheduler.calendar.links import feed_links
from scheduler.exceptions import InvalidInput
from scheduler.http.keys import FEEDS, SETTINGS
from scheduler.http.spec import Answer, Api, Param, json_model, problem
from scheduler.models import CHANNEL_PATTERN, CalendarLinks, FeedLinks
from scheduler.services.feeds import RenderedFeed

api = Api("calendar")
routes = api.routes

CONTENT_TYPE = "text/calendar"


def base_url(request: web.Request) -> str:
    """Public base URL for links: the setting, or what this request was sent to."""
    configured = request.app[SETTINGS].public_base_url
    return configured.rstrip("/") if configured else f"{request.scheme}://{request.host}"


def _not_modified(request: web.Request, feed: RenderedFeed) -> bool:
    inm = request.headers.get("If-None-Match")
    if inm == feed.etag:  # what a calendar app sends back, as it was given
        return True
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
        "Cache-Control": f"public, max-age={request.app[SETTINGS].feed_max_age_seconds}",
    }
    if _not_modified(request, feed):
        # RFC 9110 §15.4.5: ETag and Cache-Control as a 200 would; Last-Modified
        # is not needed by a cache that revalidated (and costs every 304)
        return web.Response(status=304, headers=headers)
    headers["Last-Modified"] = feed.last_modified_http
    headers["Content-Disposition"] = f'inline; filename="{feed.filename}"'
    return web.Response(body=feed.body, headers=headers, content_type=CONTENT_TYPE, charset="utf-8")


def _channel(name: str | None) -> str | None:
    if name is not None and not re.match(CHANNEL_PATTERN, name):
        raise InvalidInput("channel names are lower-case letters, digits, - and _", field="channel")
    return name


CHANNEL = {"type": "string", "pattern": CHANNEL_PATTERN}
CHANNEL_QUERY = Param("channel", "query", "Only this channel", CHANNEL)
FEED_HEADERS = {
    "ETag": "Strong tag of these bytes (send it in If-None-Match)",
    "Last-Modified": "When the feed last changed",
    "Cache-Control": "public, max-age=feed_max_age_seconds",
}


def _ics(summary: str) -> str:
    return summary + " (HEAD too; ETag/If-None-Match and If-Modified-Since give 304)"


ICS_ANSWERS = {
    200: Answer(
        "RFC 5545 calendar",
        media_type=CONTENT_TYPE,
        schema={"type": "string"},
        headers=FEED_HEADERS,
    ),
    304: Answer("Not modified since the ETag or date sent", headers=FEED_HEADERS),
}


@api.get(
    "/calendar.ics",
    "get_calendar_feed",
    _ics("Feed of all public events"),
    parameters=[CHANNEL_QUERY],
    responses={**ICS_ANSWERS, 422: problem("Bad channel name")},
)
async def calendar_feed(request: web.Request) -> web.Response:
    channel = _channel(request.query.get("channel")) if request.query_string else None
    feeds = request.app[FEEDS]
    feed = feeds.kept_calendar(channel) or await feeds.calendar(channel)
    return _respond(request, feed)


@api.get(
    "/channels/{channel}/calendar.ics",
    "get_channel_feed",
    _ics("Feed of one channel"),
    parameters=[Param("channel", "path", "Channel name", CHANNEL)],
    responses={**ICS_ANSWERS, 422: problem("Bad channel name")},
)
async def channel_feed(request: web.Request) -> web.Response:
    feed = await request.app[FEEDS].calendar(_channel(request.match_info["channel"]))
    return _respond(request, feed)


@api.get(
    "/events/{id}.ics",
    "get_event_calendar",
    _ics("One event as a calendar"),
    parameters=[
        Param("id", "path", "Event id", {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"})
    ],
    responses={**ICS_ANSWERS, 404: problem("No such event")},
)
async def event_feed(request: web.Request) -> web.Response:
    feed = await request.app[FEEDS].event(request.match_info["id"])
    return _respond(request, feed)


@api.get(
    "/api/calendar",
    "get_calendar_links",
    "Subscribe links (webcal://, Google Calendar) for a feed",
    parameters=[CHANNEL_QUERY],
    responses={200: Answer("Links", CalendarLinks), 422: problem("Bad channel name")},
)
async def calendar_links(request: web.Request) -> web.Response:
    """Subscribe links for the whole feed, or one channel's (``?channel=``)."""
    channel = _channel(request.query.get("channel"))
    settings = request.app[SETTINGS]
    name = f"{settings.calendar_name}: {channel}" if channel else settings.calendar_name
    return json_model(
        CalendarLinks(
            name=name,
            channel=channel,
            refresh_minutes=settings.feed_refresh_minutes,
            links=FeedLinks(**feed_links(base_url(request), channel)),
        )
    )
