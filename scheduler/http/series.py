"""Routes of ``/api/series``: recurring series, their cancellation and pauses.

Reads are public like events; writes need the bearer token. A series carries
an ``ETag``; writes honour ``If-Match``; ``POST /api/series`` honours
``Idempotency-Key`` as ``POST /api/events`` does. The occurrences themselves
are events: ``GET /api/events?series=ID``.
"""

from __future__ import annotations

from aiohttp import web

from scheduler.etags import entity_tag
from scheduler.exceptions import NotFound
from scheduler.http.bodies import read_model
from scheduler.http.events import (
    MAX_IDEMPOTENCY_KEY,
    idempotency_key,
    if_match_of,
    page_cursor,
    page_limit,
)
from scheduler.http.keys import CLOCK, PAUSES, SERIES
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
from scheduler.inputs import looks_like_id
from scheduler.models import (
    PauseCreate,
    PauseList,
    PausePublic,
    SeriesCreate,
    SeriesPage,
    SeriesPublic,
    SeriesUpdate,
)
from scheduler.representation import pause_model, series_model
from scheduler.services.series import SeriesView

api = Api("series")
routes = api.routes

ID_SCHEMA = {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"}
SERIES_ID = Param("id", "path", "Series id", ID_SCHEMA)
PAUSE_ID = Param("pause_id", "path", "Pause id", ID_SCHEMA)
NOT_FOUND = {404: problem("No such series (or pause)")}
WRITE_ERRORS = {**UNAUTHORIZED, **NOT_FOUND, **PRECONDITION}
CANCELLED = {409: problem("The series is cancelled")}
INVALID = {
    422: problem("Invalid field, rule, time or zone (the problem names the field)"),
    503: problem("Too many rules being checked at once, or no database; retry shortly"),
}


def _answer(request: web.Request, view: SeriesView, *, status: int = 200) -> web.Response:
    body = series_model(view.series, upcoming=view.upcoming, now=request.app[CLOCK]())
    headers = {"ETag": entity_tag(view.series)}
    if status == 201:
        headers["Location"] = f"/api/series/{view.series.id}"
    if view.replayed:
        headers["Idempotent-Replayed"] = "true"
    return json_model(body, status=status, headers=headers)


@api.post(
    "/api/series",
    "create_series",
    "Create a recurring series and its occurrences",
    secured=True,
    body=SeriesCreate,
    parameters=[
        Param(
            "Idempotency-Key",
            "header",
            "Retries with the same key and body return the first result",
            {"type": "string", "minLength": 1, "maxLength": MAX_IDEMPOTENCY_KEY},
        )
    ],
    responses={
        201: Answer("Created", SeriesPublic, headers={**ETAG, "Location": "The series' URL"}),
        **BODY_ERRORS,
        **UNAUTHORIZED,
        409: problem("Idempotency key's series was deleted"),
        **INVALID,
    },
)
async def create_series(request: web.Request) -> web.Response:
    data = await read_model(request, SeriesCreate)
    view = await request.app[SERIES].create(data, idempotency_key=idempotency_key(request))
    return _answer(request, view, status=201)


@api.get(
    "/api/series",
    "list_series",
    "List series in order of creation",
    parameters=[
        Param("cursor", "query", "next_cursor of the previous page", {"type": "string"}),
        Param(
            "limit",
            "query",
            "Page size (default: setting page_size_default)",
            lambda settings: {"type": "integer", "minimum": 1, "maximum": settings.page_size_max},
        ),
    ],
    responses={200: Answer("A page of series", SeriesPage), 422: problem("Bad cursor or limit")},
)
async def list_series(request: web.Request) -> web.Response:
    cursor, limit = page_cursor(request), page_limit(request)
    page = await request.app[SERIES].list_page(cursor=cursor, limit=limit)
    now = request.app[CLOCK]()
    body = SeriesPage.model_construct(
        items=[series_model(v.series, upcoming=v.upcoming, now=now) for v in page.items],
        next_cursor=page.next_cursor,
    )
    return json_model(body)


@api.get(
    "/api/series/{id}",
    "get_series",
    "Read a series",
    parameters=[SERIES_ID],
    responses={200: Answer("The series", SeriesPublic, headers=ETAG), **NOT_FOUND},
)
async def get_series(request: web.Request) -> web.Response:
    view = await request.app[SERIES].get(request.match_info["id"])
    response = _answer(request, view)
    if request.headers.get("If-None-Match") == response.headers["ETag"]:
        return web.Response(status=304, headers={"ETag": response.headers["ETag"]})
    return response


@api.patch(
    "/api/series/{id}",
    "update_series",
    "Change a series; future occurrences that are not exceptions follow",
    secured=True,
    parameters=[SERIES_ID, IF_MATCH],
    body=SeriesUpdate,
    responses={
        200: Answer("The changed series", SeriesPublic, headers=ETAG),
        **BODY_ERRORS,
        **WRITE_ERRORS,
        **CANCELLED,
        **INVALID,
    },
)
async def update_series(request: web.Request) -> web.Response:
    data = await read_model(request, SeriesUpdate)
    view = await request.app[SERIES].update(
        request.match_info["id"], data, if_match=if_match_of(request)
    )
    return _answer(request, view)


@api.post(
    "/api/series/{id}/cancel",
    "cancel_series",
    "Cancel every future occurrence; the series stops",
    secured=True,
    parameters=[SERIES_ID, IF_MATCH],
    responses={200: Answer("The cancelled series", SeriesPublic, headers=ETAG), **WRITE_ERRORS},
)
async def cancel_series(request: web.Request) -> web.Response:
    view = await request.app[SERIES].cancel(request.match_info["id"], if_match=if_match_of(request))
    return _answer(request, view)


@api.delete(
    "/api/series/{id}",
    "delete_series",
    "Delete a series and all its occurrences",
    secured=True,
    parameters=[SERIES_ID, IF_MATCH],
    responses={204: Answer("Deleted"), **WRITE_ERRORS},
)
async def delete_series(request: web.Request) -> web.Response:
    await request.app[SERIES].delete(request.match_info["id"], if_match=if_match_of(request))
    return web.Response(status=204)


@api.post(
    "/api/series/{id}/pauses",
    "add_series_pause",
    "Pause a series on a range of local dates (its occurrences there are cancelled)",
    secured=True,
    parameters=[SERIES_ID, IF_MATCH],
    body=PauseCreate,
    responses={
        201: Answer("The pause", PausePublic),
        **BODY_ERRORS,
        **WRITE_ERRORS,
        **CANCELLED,
        **INVALID,
    },
)
async def add_pause(request: web.Request) -> web.Response:
    data = await read_model(request, PauseCreate)
    view = await request.app[PAUSES].add(
        request.match_info["id"], data, if_match=if_match_of(request)
    )
    return json_model(pause_model(view.pause, cancelled=view.cancelled), status=201)


@api.get(
    "/api/series/{id}/pauses",
    "list_series_pauses",
    "The pauses of a series",
    parameters=[SERIES_ID],
    responses={200: Answer("Its pauses", PauseList), **NOT_FOUND},
)
async def list_pauses(request: web.Request) -> web.Response:
    views = await request.app[PAUSES].list(request.match_info["id"])
    items = [pause_model(v.pause, cancelled=v.cancelled) for v in views]
    return json_model(PauseList.model_construct(items=items))


@api.delete(
    "/api/series/{id}/pauses/{pause_id}",
    "delete_series_pause",
    "Delete a pause: the occurrences it cancelled are restored",
    secured=True,
    parameters=[SERIES_ID, PAUSE_ID, IF_MATCH],
    responses={204: Answer("Deleted"), **WRITE_ERRORS},
)
async def delete_pause(request: web.Request) -> web.Response:
    pause_id = request.match_info["pause_id"]
    if not looks_like_id(pause_id):  # before If-Match: no such pause whatever the version
        raise NotFound(f"series {request.match_info['id']!r} has no pause with id {pause_id!r}")
    await request.app[PAUSES].delete(
        request.match_info["id"], request.match_info["pause_id"], if_match=if_match_of(request)
    )
    return web.Response(status=204)
