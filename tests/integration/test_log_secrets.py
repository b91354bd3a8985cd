"""No secret reaches the log: a whole run at DEBUG level, grepped for every secret it saw.

A real ``broadcast-scheduler serve`` subprocess (SQLite and PostgreSQL) is
driven through every path where a secret is near: webhook creation and secret
rotation (``whsec_`` secrets), webhook URLs carrying ``?token=``, a ping, a
started notice that a real receiver refuses once and then takes, a delivery to
a receiver that is down, a token wrongly sent in the query string, a wrong
bearer token, writes the database refuses, and a SIGTERM. Then nothing the run
created may appear anywhere in its output, at any level (text lines on SQLite,
JSON lines on PostgreSQL, so both formatters are covered).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import sqlite3
from collections import deque
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from tests.conftest import TOKEN
from tests.processes import Server, env_for, free_port
from tests.receiver import Receiver

URL_SECRET = "URLSECRET-5d1c9a"
QUERY_SECRET = "QUERYSECRET-8e2f47"
WRONG_TOKEN = "WRONGTOKEN-41b7d3"
REFUSED = "refused by the database"
#: any signing secret, also one the run never saw (a refused write's)
ANY_SECRET = re.compile(r"whsec_[A-Za-z0-9+/=]{8,}")


class Api:
    """The running server's HTTP API, as an integrator's client sees it."""

    def __init__(self, session: aiohttp.ClientSession, port: int) -> None:
        self.session = session
        self.base = f"http://127.0.0.1:{port}"

    async def call(
        self, method: str, path: str, body: Any = None, *, token: str | None = TOKEN
    ) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with self.session.request(
            method, self.base + path, json=body, headers=headers
        ) as resp:
            data = await resp.json(content_type=None) if await resp.read() else None
            return resp.status, data


def _soon_event(title: str) -> dict[str, Any]:
    start = datetime.now(UTC) + timedelta(hours=1)
    return {
        "title": title,
        "timezone": "UTC",
        "start": start.strftime("%Y-%m-%dT%H:%M"),
        "end": (start + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
        "reminders": [],
    }


async def refuse_marked_subscriptions(database_url: str) -> None:
    """Make the database refuse to store a subscription described as :data:`REFUSED`.

    PostgreSQL reports a CHECK violation with the whole failing row (secret and
    URL included) in its message; SQLite aborts from a trigger.
    """
    if database_url.startswith("sqlite"):
        path = database_url.split(":///", 1)[1]

        def install() -> None:
            with contextlib.closing(sqlite3.connect(path, timeout=5)) as conn:
                conn.execute(
                    "CREATE TRIGGER test_refuse BEFORE INSERT ON subscriptions "
                    f"WHEN NEW.description = '{REFUSED}' "
                    "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
                )
                conn.commit()

        await asyncio.to_thread(install)
        return
    conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute(
            "ALTER TABLE subscriptions ADD CONSTRAINT test_refuse "
            f"CHECK (description IS DISTINCT FROM '{REFUSED}') NOT VALID"
        )
    finally:
        await conn.close()


async def allow_marked_subscriptions(database_url: str) -> None:
    """Undo :func:`refuse_marked_subscriptions` (PostgreSQL's database outlives the test)."""
    if database_url.startswith("sqlite"):
        return
    conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute("ALTER TABLE subscriptions DROP CONSTRAINT IF EXISTS test_refuse")
    finally:
        await conn.close()


async def _drive(api: Api, receiver: Receiver, seen: list[str], database_url: str) -> None:
    """Every secret-bearing path once; ``seen`` collects each secret handed out."""
    status, sub = await api.call(
        "POST",
        "/api/webhooks",
        {"url": f"{receiver.url}?token={URL_SECRET}", "description": "integration bot"},
    )
    assert status == 201, sub
    seen.append(sub["secret"])
    status, rotated = await api.call("POST", f"/api/webhooks/{sub['id']}/rotate-secret")
    assert status == 200, rotated
    seen.append(rotated["secret"])
    receiver.secrets.extend(seen)

    status, _ = await api.call("POST", f"/api/webhooks/{sub['id']}/ping")
    assert status < 500

    # a started notice: refused once (500), taken on the retry
    receiver.answers.extend([500])
    status, event = await api.call("POST", "/api/events", _soon_event("Plenary"))
    assert status == 201, event
    status, _ = await api.call("POST", f"/api/events/{event['id']}/start")
    assert status == 200
    await receiver.wait_for(2, type_="event.started", timeout=10)
    assert [r.answered for r in receiver.of_type("event.started")][:2] == [500, 200]
    assert all(r.verified for r in receiver.received)

    # a receiver that is down: the attempt fails with a connection error
    down = f"http://127.0.0.1:{free_port()}/down/hook?token={URL_SECRET}"
    status, dead = await api.call("POST", "/api/webhooks", {"url": down, "types": ["event.ended"]})
    assert status == 201, dead
    seen.append(dead["secret"])
    status, _ = await api.call("POST", f"/api/webhooks/{dead['id']}/ping")
    assert status < 500

    # tokens where they do not belong
    status, _ = await api.call("GET", f"/api/events?token={QUERY_SECRET}", token=None)
    assert status < 500
    status, _ = await api.call("GET", f"/api/webhooks?token={QUERY_SECRET}", token=None)
    assert status == 401
    status, _ = await api.call("GET", "/api/webhooks", token=WRONG_TOKEN)
    assert status == 401

    # writes the database may refuse (PostgreSQL cannot store NUL), secrets nearby
    status, _ = await api.call("POST", "/api/events", _soon_event("NUL \u0000 title"))
    assert status < 500 or status == 503
    status, nul = await api.call(
        "POST",
        "/api/webhooks",
        {"url": f"{receiver.url}?token={URL_SECRET}", "description": "bot \u0000"},
    )
    if status == 201:
        seen.append(nul["secret"])
    status, _ = await api.call(
        "PATCH", f"/api/webhooks/{sub['id']}", {"description": "bot \u0000 again"}
    )
    assert status < 500 or status == 503
    # a write the database itself refuses, the new secret and URL in the failing row
    await refuse_marked_subscriptions(database_url)
    status, _ = await api.call(
        "POST",
        "/api/webhooks",
        {"url": f"{receiver.url}?token={URL_SECRET}", "description": REFUSED},
    )
    assert status >= 400


@pytest.mark.slow
async def test_a_whole_run_logs_no_secret(tmp_path: Path, database_url: str) -> None:
    receiver = Receiver(answers=deque())
    await receiver.start()
    env = env_for(
        tmp_path,
        SCHEDULER_DATABASE_URL=database_url,
        SCHEDULER_LOG_LEVEL="DEBUG",
        # both formatters: text lines on SQLite, JSON lines on PostgreSQL
        SCHEDULER_LOG_FORMAT="json" if database_url.startswith("postgresql") else "text",
        SCHEDULER_ALLOW_PRIVATE_WEBHOOK_TARGETS="true",
        SCHEDULER_WEBHOOK_RETRY_SCHEDULE="0.5,0.5,0.5",
    )
    server = await asyncio.to_thread(Server, tmp_path, env)
    seen: list[str] = []
    try:
        async with aiohttp.ClientSession() as session:
            await _drive(Api(session, server.port), receiver, seen, database_url)
    finally:
        code = await asyncio.to_thread(server.stop)
        await receiver.stop()
        await allow_marked_subscriptions(database_url)  # the run's database is shared
    assert code == 0
    log = server.log.read_text()
    assert "delivery" in log and "DEBUG" in log  # the run did log, at every level
    assert "Failing row contains" in log or database_url.startswith("sqlite")
    assert all(s.startswith("whsec_") for s in seen) and len(seen) >= 3
    leaked = [
        name
        for name, secret in [
            ("API token", TOKEN),
            ("wrong bearer token", WRONG_TOKEN),
            ("webhook URL query", URL_SECRET),
            ("token in a query string", QUERY_SECRET),
        ]
        + [(f"webhook secret #{i}", s) for i, s in enumerate(seen)]
        + [(f"webhook secret #{i} (key)", s.removeprefix("whsec_")) for i, s in enumerate(seen)]
        if secret in log
    ]
    if ANY_SECRET.search(log):
        leaked.append("a whsec_ secret")
    lines = [
        line
        for line in log.splitlines()
        if ANY_SECRET.search(line) or any(s in line for s in [URL_SECRET, QUERY_SECRET, TOKEN])
    ]
    assert not leaked, f"secrets in the log: {leaked}; first lines: {lines[:5]}"


async def test_access_line_names_query_parameters_not_values(
    client: TestClient[Any, Any], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="scheduler.http.access"):
        resp = await client.get(f"/api/events?token={QUERY_SECRET}&limit=5")
        await resp.read()
    access = [r for r in caplog.records if r.name == "scheduler.http.access"]
    assert access
    assert all(QUERY_SECRET not in r.getMessage() for r in access)
    assert all(QUERY_SECRET not in str(r.__dict__) for r in access)
    assert any("/api/events?token&limit" in r.getMessage() for r in access)
