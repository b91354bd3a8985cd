"""Routes of ``/api/events``: create, list, read, change, cancel, delete."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from aiohttp import web

from scheduler.etags import entity_tag
from scheduler.exceptions import InvalidInput
from scheduler.http.bodies import read_model
from scheduler.http.calendar import base_url
from scheduler.http.keys import CLOCK, EVENTS
from scheduler.inputs import clean_text, parse_count
from scheduler.models import CHANNEL_PATTERN, Event, EventCreate, EventUpdate
from scheduler.representation import event_public
from scheduler.status import State
from scheduler.store.events import EventFilter
from scheduler.timezones import as_utc

routes = web.RouteTableDef()

_CHANNEL = re.compile(CHANNEL_PATTERN)


async def _view(request: web.Request, event: Event) -> dict[str, Any]:
    triggers = await request.app[EVENTS].triggers_for([event.id])
    return event_public(
        event, now=request.app[CLOCK](), triggers=triggers[event.id], base_url=base_url(request)
    )


MAX_IDEMPOTENCY_KEY = 255


def _instant(request: web.Request, name: str) -> datetime | None:
    raw = request.query.get(name)
    if raw is None:
        return None
    if len(raw) > 64:
        raise InvalidInput("is too long for an ISO 8601 instant", field=name)
    try:
        return as_utc(datetime.fromisoformat(raw))
    except (ValueError, OverflowError):
        raise InvalidInput(
            f"{raw!r} is not an ISO 8601 instant such as 2018-05-22T16:15:00Z", field=name
        ) from None
    except InvalidInput as err:
        raise err.for_field(name) from None


def _limit(request: web.Request) -> int | None:
    raw = request.query.get("limit")
    if raw is None:
        return None
    return parse_count(
        raw, field="limit", minimum=1, maximum=request.app[EVENTS].settings.page_size_max
    )


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
    return EventFilter(
        ends_after=_instant(request, "from"),
        starts_before=_instant(request, "to"),
        state=State(state) if state else None,
        channel=channel,
    )


def _if_match(request: web.Request) -> str | None:
    return request.headers.get("If-Match")


def _tagged(
    body: dict[str, Any], event: Event, *, status: int = 200, **headers: str
) -> web.Response:
    return web.json_response(body, status=status, headers={"ETag": entity_tag(event), **headers})


@routes.post("/api/events")
async def create_event(request: web.Request) -> web.Response:
    data = await read_model(request, EventCreate)
    key = request.headers.get("Idempotency-Key")
    if key is not None:
        if not 1 <= len(key) <= MAX_IDEMPOTENCY_KEY:
            raise InvalidInput(
                f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} characters",
                field="Idempotency-Key",
            )
        clean_text(key, field="Idempotency-Key")
    event, replayed = await request.app[EVENTS].create(data, idempotency_key=key)
    body = await _view(request, event)
    headers = {"Location": f"/api/events/{event.id}"}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return _tagged(body, event, status=201, **headers)


@routes.get("/api/events")
async def list_events(request: web.Request) -> web.Response:
    page = await request.app[EVENTS].list_page(
        _filters(request), cursor=request.query.get("cursor"), limit=_limit(request)
    )
    now = request.app[CLOCK]()
    triggers = await request.app[EVENTS].triggers_for([e.id for e in page.items])
    base = base_url(request)
    items = [event_public(e, now=now, triggers=triggers[e.id], base_url=base) for e in page.items]
    return web.json_response({"items": items, "next_cursor": page.next_cursor})


@routes.get("/api/events/{id}")
async def get_event(request: web.Request) -> web.Response:
    event = await request.app[EVENTS].get(request.match_info["id"])
    return _tagged(await _view(request, event), event)


@routes.patch("/api/events/{id}")
async def update_event(request: web.Request) -> web.Response:
    data = await read_model(request, EventUpdate)
    event = await request.app[EVENTS].update(
        request.match_info["id"], data, if_match=_if_match(request)
    )
    return _tagged(await _view(request, event), event)


@routes.post("/api/events/{id}/cancel")
async def cancel_event(request: web.Request) -> web.Response:
    event = await request.app[EVENTS].cancel(request.match_info["id"], if_match=_if_match(request))
    return _tagged(await _view(request, event), event)


@routes.delete("/api/events/{id}")
async def delete_event(request: web.Request) -> web.Response:
    await request.app[EVENTS].delete(request.match_info["id"], if_match=_if_match(request))
    return web.Response(status=204)
