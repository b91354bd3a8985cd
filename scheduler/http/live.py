"""Routes for "is it live?": status, operator start/end, the live list, SSE streams."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from aiohttp_sse import sse_response

from scheduler.http.calendar import base_url
from scheduler.http.keys import CLOCK, EVENTS, LIVE, METRICS, SETTINGS
from scheduler.models import Event
from scheduler.representation import event_public, status_public
from scheduler.services.live import LiveMessage, Subscriber
from scheduler.status import State
from scheduler.store.events import EventFilter

routes = web.RouteTableDef()


@routes.get("/api/events/{id}/status")
async def event_status(request: web.Request) -> web.Response:
    event = await request.app[EVENTS].get(request.match_info["id"])
    return web.json_response(status_public(event, now=request.app[CLOCK]()))


async def _marked(request: web.Request, event: Event) -> web.Response:
    now = request.app[CLOCK]()
    triggers = await request.app[EVENTS].triggers_for([event.id])
    return web.json_response(
        event_public(event, now=now, triggers=triggers[event.id], base_url=base_url(request))
    )


@routes.post("/api/events/{id}/start")
async def start_event(request: web.Request) -> web.Response:
    """The operator marks the stream live now (early, on time or late)."""
    event = await request.app[EVENTS].mark_started(request.match_info["id"])
    return await _marked(request, event)


@routes.post("/api/events/{id}/end")
async def end_event(request: web.Request) -> web.Response:
    """The operator marks the stream over now (early, or after an overrun)."""
    event = await request.app[EVENTS].mark_ended(request.match_info["id"])
    return await _marked(request, event)


async def _live_now(request: web.Request) -> list[dict[str, Any]]:
    service = request.app[EVENTS]
    now = request.app[CLOCK]()
    items: list[dict[str, Any]] = []
    cursor = None
    while True:  # every live event: there are few at any moment
        page = await service.list_page(
            EventFilter(state=State.LIVE), cursor=cursor, limit=service.settings.page_size_max
        )
        items += [status_public(e, now=now) for e in page.items]
        cursor = page.next_cursor
        if cursor is None:
            return items


@routes.get("/api/live")
async def live_events(request: web.Request) -> web.Response:
    return web.json_response({"items": await _live_now(request)})


async def _stream(request: web.Request, event_id: str | None) -> web.StreamResponse:
    app = request.app
    hub, settings = app[LIVE], app[SETTINGS]
    snapshot: dict[str, Any]
    if event_id is not None:
        event = await app[EVENTS].get(event_id)  # 404 before the stream starts
    sub: Subscriber = hub.subscribe(event_id)  # before the snapshot: no change slips between
    app[METRICS].sse_clients.set(hub.subscribers)
    try:
        async with sse_response(
            request,
            ping_interval=settings.sse_heartbeat_seconds,
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        ) as resp:
            missed = hub.missed(request.headers.get("Last-Event-ID"), event_id)
            if missed is None:
                if event_id is not None:
                    event = await app[EVENTS].get(event_id)
                    snapshot = status_public(event, now=app[CLOCK]())
                    name = "status"
                else:
                    snapshot = {"live": await _live_now(request)}
                    name = "snapshot"
                await resp.send(
                    json.dumps(snapshot),
                    id=hub.current_id(),
                    event=name,
                    retry=settings.sse_retry_ms,
                )
            else:
                for i, message in enumerate(missed):
                    await _send(resp, message, retry=settings.sse_retry_ms if i == 0 else None)
            while resp.is_connected() and not sub.closed:
                change = await sub.queue.get()
                if change is None or sub.closed:
                    break
                await _send(resp, change)
        return resp
    finally:
        hub.unsubscribe(sub)
        app[METRICS].sse_clients.set(hub.subscribers)


async def _send(resp: Any, message: LiveMessage, *, retry: int | None = None) -> None:
    await resp.send(json.dumps(message.status), id=message.id, event="status", retry=retry)


@routes.get("/api/events/{id}/status/stream")
async def event_status_stream(request: web.Request) -> web.StreamResponse:
    """Server-Sent Events: this event's status now, then at each change."""
    return await _stream(request, request.match_info["id"])


@routes.get("/api/live/stream")
async def live_stream(request: web.Request) -> web.StreamResponse:
    """Server-Sent Events: the events live now, then every state change of any event."""
    return await _stream(request, None)
