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
from scheduler.exceptions import BadFeedQuery, InvalidInput
from scheduler.http.keys import FEEDS, SETTINGS
from scheduler.http.spec import Answer, Api, Param, json_model, problem
from scheduler.models import CHANNEL_PATTERN, TAG_PATTERN, CalendarLinks, FeedLinks
from scheduler.models.events import MAX_REMINDER_MINUTES, MAX_TAGS
from scheduler.services.feeds import AS_PUBLISHED, FeedChoice, RenderedFeed

api = Api("calendar")
routes = api.routes

CONTENT_TYPE = "text/calendar"
MAX_ALARMS = 10
_MINUTES = re.compile(r"[0-9]{1,6}")


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


def _feed_query(request: web.Request, *, takes: tuple[str, ...]) -> FeedChoice:
    """The subscriber's choices in a feed URL; anything else is a 400 naming it."""
    query = request.query
    for name in query:
        if name not in takes:
            raise BadFeedQuery(
                f"this feed takes {', '.join(takes)}; {name[:40]!r} is not one of them",
                field=name[:40],
            )
        if len(query.getall(name)) > 1:
            raise BadFeedQuery(f"give {name} once", field=name)
    tags = query.get("tags")
    alarms = query.get("alarms")
    return FeedChoice(
        tags=_tags(tags) if tags is not None else None,
        alarms=_alarms(alarms) if alarms is not None else None,
    )


def _tags(text: str) -> frozenset[str]:
    tags = [t.strip() for t in text.split(",")]
    if not text or len(tags) > MAX_TAGS or not all(re.match(TAG_PATTERN, t) for t in tags):
        raise BadFeedQuery(
            f"tags is a comma-separated list of up to {MAX_TAGS} tags (lower-case letters, "
            "digits, - and _), such as tags=press,plenary",
            field="tags",
        )
    return frozenset(tags)


def _alarms(text: str) -> tuple[int, ...]:
    if text == "none":
        return ()
    parts = text.split(",")
    if len(parts) > MAX_ALARMS or not all(_MINUTES.fullmatch(p.strip()) for p in parts):
        raise BadFeedQuery(
            f"alarms is none, or up to {MAX_ALARMS} comma-separated minutes before the "
            "start, such as alarms=30,5",
            field="alarms",
        )
    minutes = sorted({int(p) for p in parts}, reverse=True)
    if minutes[0] > MAX_REMINDER_MINUTES:
        raise BadFeedQuery(
            f"alarms are 0 to {MAX_REMINDER_MINUTES} minutes before the start", field="alarms"
        )
    return tuple(minutes)


CHANNEL = {"type": "string", "pattern": CHANNEL_PATTERN}
CHANNEL_QUERY = Param("channel", "query", "Only this channel", CHANNEL)
TAGS_QUERY = Param(
    "tags",
    "query",
    "Only events with one of these tags (comma-separated)",
    {"type": "string", "minLength": 1, "example": "press,plenary"},
)
ALARMS_QUERY = Param(
    "alarms",
    "query",
    "Alarms instead of each event's own: `none`, or minutes before start (`30,5`)",
    {"type": "string", "minLength": 1, "example": "30,5"},
)
BAD_QUERY = {400: problem("A parameter this feed does not take, or a bad value (it says which)")}
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
    parameters=[CHANNEL_QUERY, TAGS_QUERY, ALARMS_QUERY],
    responses={**ICS_ANSWERS, **BAD_QUERY},
)
async def calendar_feed(request: web.Request) -> web.Response:
    feeds = request.app[FEEDS]
    if not request.query_string:  # the published feed: most requests
        return _respond(request, feeds.kept_calendar(None) or await feeds.calendar(None))
    choice = _feed_query(request, takes=("channel", "tags", "alarms"))
    channel = _bad_query_channel(request.query.get("channel"))
    if choice == AS_PUBLISHED:
        feed = feeds.kept_calendar(channel) or await feeds.calendar(channel)
    else:
        feed = await feeds.calendar(channel, choice)
    return _respond(request, feed)


def _bad_query_channel(name: str | None) -> str | None:
    try:
        return _channel(name)
    except InvalidInput as err:
        raise BadFeedQuery(err.message, field="channel") from None


@api.get(
    "/channels/{channel}/calendar.ics",
    "get_channel_feed",
    _ics("Feed of one channel"),
    parameters=[Param("channel", "path", "Channel name", CHANNEL), TAGS_QUERY, ALARMS_QUERY],
    responses={**ICS_ANSWERS, **BAD_QUERY},
)
async def channel_feed(request: web.Request) -> web.Response:
    channel = _bad_query_channel(request.match_info["channel"])
    choice = _feed_query(request, takes=("tags", "alarms"))
    feed = await request.app[FEEDS].calendar(channel, choice)
    return _respond(request, feed)


@api.get(
    "/events/{id}.ics",
    "get_event_calendar",
    _ics("One event as a calendar"),
    parameters=[
        Param("id", "path", "Event id", {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"}),
        ALARMS_QUERY,
    ],
    responses={**ICS_ANSWERS, **BAD_QUERY, 404: problem("No such event")},
)
async def event_feed(request: web.Request) -> web.Response:
    choice = _feed_query(request, takes=("alarms",))
    feed = await request.app[FEEDS].event(request.match_info["id"], choice)
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
