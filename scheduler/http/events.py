"""Routes of ``/api/events``: create, list, read, change, cancel, delete."""

from __future__ import annotations

import re
from datetime import datetime

from aiohttp import web

from scheduler.etags import entity_tag
from scheduler.exceptions import InvalidInput
from scheduler.http.bodies import read_model
from scheduler.http.calendar import base_url
from scheduler.http.keys import CLOCK, EVENTS, PAGES
from scheduler.http.spec import (
    BODY_ERRORS,
    ETAG,
    IF_MATCH,
    PRECONDITION,
    UNAUTHORIZED,
    Answer,
    Api,
    Param,
    json_model,
    problem,
)
from scheduler.inputs import clean_text, looks_like_id, parse_count
from scheduler.models import (
    CHANNEL_PATTERN,
    TAG_PATTERN,
    Event,
    EventCreate,
    EventPage,
    EventPublic,
    EventUpdate,
)
from scheduler.representation import event_model
from scheduler.status import State
from scheduler.store.events import EventFilter
from scheduler.timezones import as_utc

api = Api("events")
routes = api.routes

_CHANNEL = re.compile(CHANNEL_PATTERN)
_TAG = re.compile(TAG_PATTERN)
MAX_IDEMPOTENCY_KEY = 255
#: longest ``from``/``to`` value read (an ISO 8601 instant is ~35 characters)
MAX_INSTANT = 64

EVENT_ID = Param("id", "path", "Event id", {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"})
NOT_FOUND = {404: problem("No such event")}
WRITE_ERRORS = {**UNAUTHORIZED, **NOT_FOUND, **PRECONDITION}
PAGE_ETAG = {
    "ETag": "Strong tag of this page; send it in If-None-Match to get 304 until it changes"
}
JSON = "application/json"
INVALID = {422: problem("Invalid field, time or zone (the problem names the field)")}


def _instant_param(name: str, description: str) -> Param:
    schema = {"type": "string", "format": "date-time", "minLength": 1, "maxLength": MAX_INSTANT}
    return Param(name, "query", description, schema)


async def _view(request: web.Request, event: Event) -> EventPublic:
    triggers = await request.app[EVENTS].triggers_for([event.id])
    return event_model(
        event, now=request.app[CLOCK](), triggers=triggers[event.id], base_url=base_url(request)
    )


def _instant(request: web.Request, name: str) -> datetime | None:
    raw = request.query.get(name)
    if raw is None:
        return None
    if len(raw) > MAX_INSTANT:
        raise InvalidInput("is too long for an ISO 8601 instant", field=name)
    try:
        return as_utc(datetime.fromisoformat(raw))
    except (ValueError, OverflowError):
        raise InvalidInput(
            f"{raw!r} is not an ISO 8601 instant such as 2018-05-22T16:15:00Z", field=name
        ) from None
    except InvalidInput as err:
        raise err.for_field(name) from None


def page_limit(request: web.Request) -> int | None:
    raw = request.query.get("limit")
    if raw is None:
        return None
    return parse_count(
        raw, field="limit", minimum=1, maximum=request.app[EVENTS].settings.page_size_max
    )


def page_cursor(request: web.Request) -> str | None:
    cursor = request.query.get("cursor")
    if cursor == "":  # as for every other filter: an empty value is a mistake, not "none"
        raise InvalidInput(
            "is empty; leave it out for the first page, or send next_cursor", field="cursor"
        )
    return cursor


def _filters(request: web.Request) -> EventFilter:
    state = request.query.get("status")
    if state is not None and state not in State.__members__.values():
        allowed = ", ".join(s.value for s in State)
        raise InvalidInput(f"status must be one of {allowed}", field="status")
    channel = request.query.get("channel")
    if channel is not None and not _CHANNEL.match(channel):
        raise InvalidInput(
            "a channel name is 1-64 lowercase letters, digits, '-' or '_'", field="channel"
        )
    tag = request.query.get("tag")
    if tag is not None and not _TAG.match(tag):
        raise InvalidInput("a tag is 1-32 lowercase letters, digits, '-' or '_'", field="tag")
    series = request.query.get("series")
    if series is not None and not looks_like_id(series):
        raise InvalidInput("is not a series id", field="series")
    return EventFilter(
        ends_after=_instant(request, "from"),
        starts_before=_instant(request, "to"),
        state=State(state) if state else None,
        channel=channel,
        tag=tag,
        series_id=series,
    )


def idempotency_key(request: web.Request) -> str | None:
    """The ``Idempotency-Key`` header, checked (1-255 characters, no control ones)."""
    key = request.headers.get("Idempotency-Key")
    if key is not None:
        if not 1 <= len(key) <= MAX_IDEMPOTENCY_KEY:
            raise InvalidInput(
                f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} characters",
                field="Idempotency-Key",
            )
        clean_text(key, field="Idempotency-Key")
    return key


def if_match_of(request: web.Request) -> str | None:
    return request.headers.get("If-Match")


def _tagged(body: EventPublic, event: Event, *, status: int = 200, **headers: str) -> web.Response:
    return json_model(body, status=status, headers={"ETag": entity_tag(event), **headers})


@api.post(
    "/api/events",
    "create_event",
    "Create an event",
    secured=True,
    body=EventCreate,
    parameters=[
        Param(
            "Idempotency-Key",
            "header",
            "Retries with the same key and body return the first result (same id, "
            "`Idempotent-Replayed: true`); the same key with another body is a 422",
            {"type": "string", "minLength": 1, "maxLength": MAX_IDEMPOTENCY_KEY},
        )
    ],
    responses={
        201: Answer(
            "Created",
            EventPublic,
            headers={**ETAG, "Location": "The event's URL"},
        ),
        **BODY_ERRORS,
        **UNAUTHORIZED,
        409: problem("Idempotency key's event was deleted"),
        **INVALID,
    },
)
async def create_event(request: web.Request) -> web.Response:
    data = await read_model(request, EventCreate)
    key = idempotency_key(request)
    created = await request.app[EVENTS].create(data, idempotency_key=key)
    event = created.event
    # the create hands back the triggers it stored: no second read
    body = event_model(
        event, now=request.app[CLOCK](), triggers=created.triggers, base_url=base_url(request)
    )
    headers = {"Location": f"/api/events/{event.id}"}
    if created.replayed:
        headers["Idempotent-Replayed"] = "true"
    return _tagged(body, event, status=201, **headers)


@api.get(
    "/api/events",
    "list_events",
    "List events by start time",
    parameters=[
        _instant_param("from", "Events ending after this instant"),
        _instant_param("to", "Events starting before this instant"),
        Param(
            "status",
            "query",
            "Lifecycle state",
            {"type": "string", "enum": [s.value for s in State]},
        ),
        Param(
            "channel", "query", "Only this channel", {"type": "string", "pattern": CHANNEL_PATTERN}
        ),
        Param(
            "tag", "query", "Only events with this tag", {"type": "string", "pattern": TAG_PATTERN}
        ),
        Param(
            "series",
            "query",
            "Only the occurrences of this series",
            {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"},
        ),
        Param(
            "cursor",
            "query",
            "next_cursor of the previous page",
            {"type": "string", "minLength": 1},
        ),
        Param(
            "limit",
            "query",
            "Page size (default: setting page_size_default)",
            lambda settings: {"type": "integer", "minimum": 1, "maximum": settings.page_size_max},
        ),
    ],
    responses={
        200: Answer("A page of events", EventPage, headers=PAGE_ETAG),
        304: Answer("Not modified since the ETag sent in If-None-Match", headers=PAGE_ETAG),
        422: problem("Bad filter"),
    },
)
async def list_events(request: web.Request) -> web.Response:
    page = await request.app[PAGES].listing(
        _filters(request),
        cursor=page_cursor(request),
        limit=page_limit(request),
        base_url=base_url(request),
    )
    if request.headers.get("If-None-Match") == page.etag:
        return web.Response(status=304, headers={"ETag": page.etag})
    return web.Response(body=page.body, headers={"ETag": page.etag}, content_type=JSON)


@api.get(
    "/api/events/{id}",
    "get_event",
    "Read an event",
    parameters=[EVENT_ID],
    responses={200: Answer("The event", EventPublic, headers=ETAG), **NOT_FOUND},
)
async def get_event(request: web.Request) -> web.Response:
    answer = await request.app[PAGES].event(request.match_info["id"], base_url=base_url(request))
    return web.Response(body=answer.body, headers={"ETag": answer.etag}, content_type=JSON)


@api.patch(
    "/api/events/{id}",
    "update_event",
    "Change an event (only the fields sent change)",
    secured=True,
    parameters=[EVENT_ID, IF_MATCH],
    body=EventUpdate,
    responses={
        200: Answer("The changed event", EventPublic, headers=ETAG),
        **BODY_ERRORS,
        **WRITE_ERRORS,
        409: problem("The event is cancelled"),
        **INVALID,
    },
)
async def update_event(request: web.Request) -> web.Response:
    data = await read_model(request, EventUpdate)
    event = await request.app[EVENTS].update(
        request.match_info["id"], data, if_match=if_match_of(request)
    )
    return _tagged(await _view(request, event), event)


@api.post(
    "/api/events/{id}/cancel",
    "cancel_event",
    "Cancel an event (it stays visible as cancelled)",
    secured=True,
    parameters=[EVENT_ID, IF_MATCH],
    responses={200: Answer("The cancelled event", EventPublic, headers=ETAG), **WRITE_ERRORS},
)
async def cancel_event(request: web.Request) -> web.Response:
    event_id, if_match = request.match_info["id"], if_match_of(request)
    event = await request.app[EVENTS].cancel(event_id, if_match=if_match)
    return _tagged(await _view(request, event), event)


@api.delete(
    "/api/events/{id}",
    "delete_event",
    "Delete an event",
    secured=True,
    parameters=[EVENT_ID, IF_MATCH],
    responses={
        204: Answer("Deleted"),
        **WRITE_ERRORS,
        409: problem("An occurrence of a series: cancel it, or delete the series"),
    },
)
async def delete_event(request: web.Request) -> web.Response:
    await request.app[EVENTS].delete(request.match_info["id"], if_match=if_match_of(request))
    return web.Response(status=204)
