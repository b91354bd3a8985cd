"""Routes for "is it live?": status, operator start/end, the live list, SSE streams."""

from __future__ import annotations

import json
import math
from typing import Any

from aiohttp import web
from aiohttp_sse import EventSourceResponse, sse_response

from scheduler.config import Settings
from scheduler.etags import entity_tag
from scheduler.http.calendar import base_url
from scheduler.http.keys import CLOCK, EVENTS, LIVE, METRICS, SETTINGS, STATUS
from scheduler.http.problems import problem
from scheduler.http.spec import (
    ETAG,
    IF_MATCH,
    PRECONDITION,
    UNAUTHORIZED,
    Answer,
    Api,
    Param,
    json_model,
)
from scheduler.http.spec import problem as problem_answer
from scheduler.models import Event, EventPublic, EventStatus, LiveList
from scheduler.representation import event_model, event_status, status_json, status_public
from scheduler.services.live import LiveMessage, Subscriber
from scheduler.status import State
from scheduler.store.events import EventFilter

api = Api("live")
routes = api.routes

EVENT_ID = Param("id", "path", "Event id", {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"})
NOT_FOUND = {404: problem_answer("No such event")}
MARK = {
    "secured": True,
    "parameters": [EVENT_ID, IF_MATCH],
    "responses": {
        200: Answer("The event", EventPublic, headers=ETAG),
        409: problem_answer("Cancelled, or already ended"),
        **PRECONDITION,
        **UNAUTHORIZED,
        **NOT_FOUND,
    },
}
SSE_DESCRIPTION = (
    "Server-Sent Events (`event: status`, `id:`, `retry:`, heartbeat comments). "
    "Reconnect with `Last-Event-ID` to receive what was missed."
)
SSE_ANSWERS = {
    200: Answer("An event stream", media_type="text/event-stream", schema={"type": "string"}),
    503: problem_answer("This process holds sse_max_streams streams; retry after Retry-After"),
}
LAST_EVENT_ID = Param("Last-Event-ID", "header", "id of the last message received")


@api.get(
    "/api/events/{id}/status",
    "get_event_status",
    "Upcoming, live, ended or cancelled, with seconds to start and end",
    parameters=[EVENT_ID],
    responses={200: Answer("Status now", EventStatus), **NOT_FOUND},
)
async def get_event_status(request: web.Request) -> web.Response:
    # from memory: the status is the row and the clock (services.status_view)
    event = await request.app[STATUS].get(request.match_info["id"])
    body = status_json(event, now=request.app[CLOCK]())
    return web.Response(body=body, content_type="application/json")


async def _marked(request: web.Request, event: Event) -> web.Response:
    now = request.app[CLOCK]()
    triggers = await request.app[EVENTS].triggers_for([event.id])
    return json_model(
        event_model(event, now=now, triggers=triggers[event.id], base_url=base_url(request)),
        headers={"ETag": entity_tag(event)},
    )


@api.post(
    "/api/events/{id}/start",
    "start_event",
    "Mark the stream live now (fires event.started once)",
    **MARK,
)
async def start_event(request: web.Request) -> web.Response:
    """The operator marks the stream live now (early, on time or late)."""
    event = await request.app[EVENTS].mark_started(
        request.match_info["id"], if_match=request.headers.get("If-Match")
    )
    return await _marked(request, event)


@api.post(
    "/api/events/{id}/end",
    "end_event",
    "Mark the stream over now (fires event.ended once)",
    **MARK,
)
async def end_event(request: web.Request) -> web.Response:
    """The operator marks the stream over now (early, or after an overrun)."""
    event = await request.app[EVENTS].mark_ended(
        request.match_info["id"], if_match=request.headers.get("If-Match")
    )
    return await _marked(request, event)


async def _live_now(request: web.Request) -> list[EventStatus]:
    view, now = request.app[STATUS], request.app[CLOCK]()
    if view.loaded:
        return [event_status(e, now=now) for e in view.live()]
    service = request.app[EVENTS]  # until the view is loaded (a database that was down)
    items: list[EventStatus] = []
    cursor = None
    while True:  # every live event: there are few at any moment
        page = await service.list_page(
            EventFilter(state=State.LIVE), cursor=cursor, limit=service.settings.page_size_max
        )
        items += [event_status(e, now=now) for e in page.items]
        cursor = page.next_cursor
        if cursor is None:
            return items


@api.get(
    "/api/live",
    "list_live_events",
    "Events live right now",
    responses={200: Answer("Live events", LiveList)},
)
async def live_events(request: web.Request) -> web.Response:
    return json_model(LiveList.model_construct(items=await _live_now(request)))


async def _stream(request: web.Request, event_id: str | None) -> web.StreamResponse:
    app = request.app
    hub, settings, metrics = app[LIVE], app[SETTINGS], app[METRICS]
    if event_id is not None:
        await app[STATUS].get(event_id)  # 404 before the stream starts
    if hub.subscribers >= settings.sse_max_streams:
        return _full(settings)
    # no await between the count and here: two requests cannot both take the last slot
    sub = hub.subscribe(event_id)  # before the snapshot: no change slips between
    metrics.sse_clients.set(hub.subscribers)
    try:
        async with sse_response(
            request,
            ping_interval=settings.sse_heartbeat_seconds,
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        ) as resp:
            try:
                await _catch_up(request, resp, event_id)
                await _follow(request, resp, sub, settings.sse_heartbeat_seconds)
            except ConnectionResetError:
                pass  # the client went away while we wrote to it: nothing more to do
        return resp
    finally:
        hub.unsubscribe(sub)
        metrics.sse_clients.set(hub.subscribers)


def _full(settings: Settings) -> web.Response:
    """503 for a stream beyond ``sse_max_streams``.

    Retry-After is one heartbeat: streams whose clients vanished are freed
    within one, so that is when a retry can find a slot; sooner would only add load.
    """
    retry_after = max(1, math.ceil(settings.sse_heartbeat_seconds))
    return problem(
        503,
        f"this server already holds its maximum of {settings.sse_max_streams} live-status "
        f"streams; retry in {retry_after} s, or poll GET /api/events/{{id}}/status meanwhile",
        code="too-many-streams",
        headers={"Retry-After": str(retry_after)},
    )


async def _catch_up(request: web.Request, resp: EventSourceResponse, event_id: str | None) -> None:
    """What the client missed since its ``Last-Event-ID``, or else a snapshot of now."""
    app = request.app
    hub, retry = app[LIVE], app[SETTINGS].sse_retry_ms
    missed = hub.missed(request.headers.get("Last-Event-ID"), event_id)
    if missed is not None:
        for i, message in enumerate(missed):
            await _send(resp, message, retry=retry if i == 0 else None)
        return
    snapshot: dict[str, Any]
    if event_id is not None:
        event = await app[STATUS].get(event_id)
        snapshot, name = status_public(event, now=app[CLOCK]()), "status"
    else:
        live = [item.model_dump(mode="json") for item in await _live_now(request)]
        snapshot, name = {"live": live}, "snapshot"
    await resp.send(json.dumps(snapshot), id=hub.current_id(), event=name, retry=retry)


async def _follow(
    request: web.Request, resp: EventSourceResponse, sub: Subscriber, heartbeat: float
) -> None:
    """Push ``sub``'s changes until it is closed or its client is gone.

    The server does not cancel a handler whose client disconnected
    (``handler_cancellation`` is off, as it should be for writes), so the wait
    wakes at least once per heartbeat to look: a stream for an event months
    away would otherwise keep its dead client until the event next changed.
    """
    while True:
        changes = await sub.wait(heartbeat)
        if sub.closed:
            return
        if not changes and _gone(request, resp):
            return
        for change in changes:
            await _send(resp, change)


def _gone(request: web.Request, resp: EventSourceResponse) -> bool:
    """Whether the client left: its connection closed, or a heartbeat could not be written."""
    transport = request.transport
    return transport is None or transport.is_closing() or not resp.is_connected()


async def _send(
    resp: EventSourceResponse, message: LiveMessage, *, retry: int | None = None
) -> None:
    await resp.send(message.data, id=message.id, event="status", retry=retry)


@api.get(
    "/api/events/{id}/status/stream",
    "stream_event_status",
    "This event's status, pushed at every change",
    description=SSE_DESCRIPTION,
    parameters=[EVENT_ID, LAST_EVENT_ID],
    responses={**SSE_ANSWERS, **NOT_FOUND},
)
async def event_status_stream(request: web.Request) -> web.StreamResponse:
    """Server-Sent Events: this event's status now, then at each change."""
    return await _stream(request, request.match_info["id"])


@api.get(
    "/api/live/stream",
    "stream_live_events",
    "Snapshot of live events, then every state change",
    description=SSE_DESCRIPTION,
    parameters=[LAST_EVENT_ID],
    responses=SSE_ANSWERS,
)
async def live_stream(request: web.Request) -> web.StreamResponse:
    """Server-Sent Events: the events live now, then every state change of any event."""
    return await _stream(request, None)
