"""``POST /api/import``: bring events in from a calendar file (RFC 5545)."""

from __future__ import annotations

import re

from aiohttp import web

from scheduler.exceptions import InvalidInput, TooLarge
from scheduler.http.bodies import MalformedBody
from scheduler.http.keys import IMPORTS, SETTINGS
from scheduler.http.spec import UNAUTHORIZED, Answer, Api, Param, json_model, problem
from scheduler.models import CHANNEL_PATTERN, ImportReport

api = Api("import")
routes = api.routes

CALENDAR_TYPES = frozenset({"text/calendar", "application/octet-stream", "text/plain"})
SOURCE_PATTERN = CHANNEL_PATTERN
DEFAULT_SOURCE = "import"
READ_CHUNK = 1 << 16


@api.post(
    "/api/import",
    "import_calendar",
    "Create or update events from an iCalendar file (a Google Calendar or Outlook export)",
    description=(
        "Each event of the file is found again by its UID (and RECURRENCE-ID), so "
        "importing the same file twice changes nothing and an edited file updates what "
        "changed. Recurring events become their occurrences up to `import_horizon_days` "
        "ahead. All-day events, floating times and events that already ended are "
        "skipped, each with its reason. See docs/import.md."
    ),
    secured=True,
    raw_body={"text/calendar": {"type": "string", "description": "An RFC 5545 file"}},
    parameters=[
        Param(
            "source",
            "query",
            "Name of this import's source; events are found again (and pruned) within it",
            {"type": "string", "pattern": SOURCE_PATTERN, "default": DEFAULT_SOURCE},
        ),
        Param(
            "channel",
            "query",
            "Put the imported events on this channel",
            {"type": "string", "pattern": CHANNEL_PATTERN},
        ),
        Param(
            "prune",
            "query",
            "Cancel events imported from this source before whose UID the file no longer has",
            {"type": "boolean", "default": False},
        ),
    ],
    responses={
        200: Answer("What was created, updated, left, cancelled and skipped", ImportReport),
        **UNAUTHORIZED,
        400: problem("Not an iCalendar file"),
        413: problem("Larger than import_max_bytes"),
        415: problem("Not text/calendar"),
        422: problem("Bad source, channel or prune parameter"),
    },
)
async def import_calendar(request: web.Request) -> web.Response:
    source = _name(request.query.get("source", DEFAULT_SOURCE), "source")
    channel = request.query.get("channel")
    if channel is not None:
        channel = _name(channel, "channel")
    prune = _flag(request.query.get("prune", "false"))
    if request.content_type not in CALENDAR_TYPES:
        raise web.HTTPUnsupportedMediaType(
            text=f"send the file as text/calendar, not {request.content_type[:100]}"
        )
    data = await _read(request, request.app[SETTINGS].import_max_bytes)
    if not data.strip():
        raise MalformedBody("the request body is empty; send an iCalendar file")
    try:
        report = await request.app[IMPORTS].run(data, source=source, channel=channel, prune=prune)
    except InvalidInput as err:
        if err.field == "body":
            raise MalformedBody(err.message) from None
        raise
    return json_model(report)


async def _read(request: web.Request, limit: int) -> bytes:
    """The body, refused with 413 as soon as it passes ``limit`` (the app's
    ``max_body_bytes`` is for JSON bodies; a calendar file is larger)."""
    too_large = TooLarge(
        f"the calendar file is larger than the {limit} bytes this server imports "
        "(setting import_max_bytes); split it or raise the setting"
    )
    if request.content_length is not None and request.content_length > limit:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    while chunk := await request.content.read(READ_CHUNK):
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def _name(value: str, field: str) -> str:
    if not re.match(SOURCE_PATTERN, value):
        raise InvalidInput(
            f"{field} is lower-case letters, digits, - and _ (1 to 64, starting with a "
            "letter or digit)",
            field=field,
        )
    return value


def _flag(value: str) -> bool:
    if value.lower() in ("true", "1", "yes"):
        return True
    if value.lower() in ("false", "0", "no"):
        return False
    raise InvalidInput("prune is true or false", field="prune")
