"""The same inserts, naively: the baseline of ``bench create``.

``python -m bench.insert_server URL PORT`` answers ``POST /api/events`` the way a
plain handler would: it parses the JSON body, derives the UTC instants, and in
one transaction per request inserts the event row, its trigger rows (one per
reminder, a start and an end) and the change notice other processes read (a
``change_log`` row on SQLite, ``pg_notify`` on PostgreSQL), then answers 201 with
the row as JSON. Same tables (the service's own, migrated), same driver
(aiosqlite or asyncpg under SQLAlchemy's async engine, SQLAlchemy Core), same
SQLite settings (WAL, ``synchronous=NORMAL``); on SQLite the transactions queue
on an ``asyncio.Lock``, as the service's do, since letting them collide makes
SQLite's busy handler sleep. No validation, no ORM, no listeners: what the
database work costs, and little more.
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from aiohttp import web
from sqlalchemy import event, insert, text
from sqlalchemy.ext.asyncio import create_async_engine

from scheduler.models import Event, Trigger
from scheduler.models.changes import ChangeRecord

EVENTS = Event.__table__  # type: ignore[attr-defined]
TRIGGERS = Trigger.__table__  # type: ignore[attr-defined]
CHANGES = ChangeRecord.__table__  # type: ignore[attr-defined]
CHANNEL = "broadcast_scheduler_changes"


def _pragmas(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=10000"):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def _rows(body: dict[str, Any], now: datetime) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    zone = ZoneInfo(body["timezone"])
    start_local = datetime.fromisoformat(body["start"])
    end_local = datetime.fromisoformat(body["end"])
    start = start_local.replace(tzinfo=zone).astimezone(UTC)
    end = end_local.replace(tzinfo=zone).astimezone(UTC)
    event_id = uuid.uuid4().hex
    reminders = sorted(set(body.get("reminders") or []), reverse=True)
    row = {
        "id": event_id,
        "title": body["title"],
        "description": body.get("description"),
        "stream_url": body.get("stream_url"),
        "location": body.get("location"),
        "channel": body.get("channel"),
        "timezone": body["timezone"],
        "start_local": start_local,
        "end_local": end_local,
        "start_utc": start,
        "end_utc": end,
        "reminders": reminders,
        "status": "scheduled",
        "sequence": 0,
        "created_at": now,
        "updated_at": now,
    }
    due = [(f"reminder:{m}", "event.reminder", m, start - timedelta(minutes=m)) for m in reminders]
    due += [("started", "event.started", None, start), ("ended", "event.ended", None, end)]
    triggers = [
        {
            "id": f"{event_id}:{name}",
            "event_id": event_id,
            "type": type_,
            "minutes_before": minutes,
            "due_at": at,
            "state": "pending",
        }
        for name, type_, minutes, at in due
    ]
    return row, triggers


def _links(request: web.Request, row: dict[str, Any]) -> dict[str, str]:
    """Links of about the size of the service's (which has two calendar ones)."""
    base = f"http://{request.host}"
    dates = f"{row['start_utc']:%Y%m%dT%H%M%SZ}/{row['end_utc']:%Y%m%dT%H%M%SZ}"
    query = {"text": row["title"], "dates": dates, "details": row["stream_url"] or ""}
    return {
        "self": f"{base}/api/events/{row['id']}",
        "ics": f"{base}/events/{row['id']}.ics",
        "webcal": f"webcal://{request.host}/events/{row['id']}.ics",
        "google_calendar": "https://calendar.google.com/calendar/render?" + urlencode(query),
        "outlook": "https://outlook.live.com/calendar/0/action/compose?" + urlencode(query),
        "status": f"{base}/api/events/{row['id']}/status",
    }


def main() -> None:
    url, port = sys.argv[1], int(sys.argv[2])
    sqlite = url.startswith("sqlite")
    engine = create_async_engine(url, **({} if sqlite else {"pool_size": 10, "max_overflow": 10}))
    if sqlite:
        event.listen(engine.sync_engine, "connect", _pragmas)
    turn = asyncio.Lock() if sqlite else None

    async def write(row: dict[str, Any], triggers: list[dict[str, Any]]) -> None:
        async with engine.begin() as conn:
            await conn.execute(insert(EVENTS), row)
            await conn.execute(insert(TRIGGERS), triggers)
            if sqlite:
                await conn.execute(
                    insert(CHANGES),
                    {
                        "origin": "baseline",
                        "kind": "created",
                        "ref_id": row["id"],
                        "at": row["created_at"],
                    },
                )
            else:
                payload = json.dumps({"from": "baseline", "changes": [["created", row["id"]]]})
                await conn.execute(text("SELECT pg_notify(:c, :p)"), {"c": CHANNEL, "p": payload})

    async def create(request: web.Request) -> web.Response:
        body = await request.json()
        row, triggers = _rows(body, datetime.now(UTC))
        if turn is not None:
            async with turn:
                await write(row, triggers)
        else:
            await write(row, triggers)
        answer = {**row, "triggers": triggers, "links": _links(request, row)}
        return web.json_response(
            answer,
            status=201,
            headers={"Location": f"/api/events/{row['id']}"},
            dumps=lambda value: json.dumps(value, default=str),
        )

    async def healthz(_request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def close(_app: web.Application) -> None:
        await engine.dispose()

    app = web.Application()
    app.router.add_post("/api/events", create)
    app.router.add_get("/healthz", healthz)
    app.on_cleanup.append(close)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


if __name__ == "__main__":
    main()
