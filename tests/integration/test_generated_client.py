"""A client generated from our own document works against the live server.

``openapi-python-client`` generates a Python package from the document a
running ``serve`` subprocess serves; the test imports it and, through it
only, creates, reads, lists, changes, cancels and deletes an event and
creates, reads, changes and deletes a webhook. Method names come from the
declared operationIds (``create_event``, not ``post_api_events``); instants
arrive as datetimes because the document says ``format: date-time``.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import subprocess
import sys
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TOKEN
from tests.processes import Server, env_for

pytestmark = pytest.mark.slow

GENERATOR = Path(sys.executable).parent / "openapi-python-client"
PACKAGE = "broadcast_scheduler_client"


def _generate(port: int, where: Path) -> Any:
    """Generate the client package from the served document into ``where`` and import it."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/openapi.json", timeout=10) as resp:
        (where / "openapi.json").write_bytes(resp.read())
    # the generator formats its output with ruff afterwards: ours, from this venv
    env = {**os.environ, "PATH": f"{GENERATOR.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    # the calendar file POST /api/import takes is bytes to a client (the
    # generator knows no text/calendar; docs/import.md)
    config = where / "generator.yaml"
    config.write_text("content_type_overrides:\n  text/calendar: application/octet-stream\n")
    result = subprocess.run(
        [
            str(GENERATOR),
            "generate",
            "--path",
            str(where / "openapi.json"),
            "--output-path",
            str(where / PACKAGE),
            "--meta",
            "none",
            "--config",
            str(config),
        ],
        cwd=where,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Warning" not in result.stdout + result.stderr, result.stdout + result.stderr
    sys.path.insert(0, str(where))
    try:
        return importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(where))


def _event_round_trip(pkg: Any, client: Any) -> None:
    from broadcast_scheduler_client.api.events import (  # type: ignore[import-not-found]
        cancel_event,
        create_event,
        delete_event,
        get_event,
        list_events,
        update_event,
    )
    from broadcast_scheduler_client.models import EventCreate, EventUpdate

    body = EventCreate(
        title="Plenary",
        timezone="Europe/Brussels",
        start="2018-05-22T18:15",
        end="2018-05-22T19:30",
        channel="plenary",
    )
    created = create_event.sync_detailed(client=client, body=body, idempotency_key="gen-1")
    assert created.status_code == 201, created.content
    event = created.parsed
    assert event.start_utc == datetime(2018, 5, 22, 16, 15, tzinfo=UTC)
    assert event.links.ics.endswith(f"/events/{event.id}.ics")

    read = get_event.sync_detailed(event.id, client=client)
    assert read.status_code == 200
    assert read.parsed.title == "Plenary"
    etag = read.headers["ETag"]

    page = list_events.sync(client=client, channel="plenary", limit=10)
    assert [e.id for e in page.items] == [event.id]

    changed = update_event.sync_detailed(
        event.id, client=client, body=EventUpdate(title="Plenary, part 2"), if_match=etag
    )
    assert changed.status_code == 200, changed.content
    assert changed.parsed.title == "Plenary, part 2"
    assert changed.parsed.sequence == event.sequence + 1
    stale = update_event.sync_detailed(
        event.id, client=client, body=EventUpdate(title="lost update"), if_match=etag
    )
    assert stale.status_code == 412
    assert stale.parsed.status == 412

    cancelled = cancel_event.sync(event.id, client=client)
    assert cancelled.status == "cancelled"
    assert cancelled.cancelled_at is not None

    assert delete_event.sync_detailed(event.id, client=client).status_code == 204
    gone = get_event.sync_detailed(event.id, client=client)
    assert gone.status_code == 404
    assert gone.parsed.status == 404


def _webhook_round_trip(pkg: Any, client: Any) -> None:
    from broadcast_scheduler_client.api.webhooks import (  # type: ignore[import-not-found]
        create_webhook,
        delete_webhook,
        get_webhook,
        update_webhook,
    )
    from broadcast_scheduler_client.models import (
        SubscriptionCreate,
        SubscriptionUpdate,
        SubscriptionUpdateTypesItem,
    )

    created = create_webhook.sync_detailed(
        client=client, body=SubscriptionCreate(url="http://127.0.0.1:9/hooks", channel="plenary")
    )
    assert created.status_code == 201, created.content
    sub = created.parsed
    assert sub.secret.startswith("whsec_")

    read = get_webhook.sync(sub.id, client=client)
    assert read.url == "http://127.0.0.1:9/hooks"
    assert "secret" not in read.to_dict()

    changed = update_webhook.sync(
        sub.id,
        client=client,
        body=SubscriptionUpdate(types=[SubscriptionUpdateTypesItem.EVENT_STARTED], active=False),
    )
    assert changed.types == ["event.started"]
    assert changed.active is False

    assert delete_webhook.sync_detailed(sub.id, client=client).status_code == 204
    assert get_webhook.sync_detailed(sub.id, client=client).status_code == 404


def _use_client(port: int, where: Path) -> None:
    pkg = _generate(port, where)
    sys.path.insert(0, str(where))
    try:
        with pkg.AuthenticatedClient(
            base_url=f"http://127.0.0.1:{port}", token=TOKEN, raise_on_unexpected_status=True
        ) as client:
            _event_round_trip(pkg, client)
            _webhook_round_trip(pkg, client)
    finally:
        sys.path.remove(str(where))
        for name in [m for m in sys.modules if m.split(".")[0] == PACKAGE]:
            del sys.modules[name]


async def test_generated_client_round_trip(tmp_path: Path, database_url: str) -> None:
    if not GENERATOR.exists():
        pytest.skip("openapi-python-client is not installed (pip install -e '.[test]')")
    env = env_for(
        tmp_path,
        SCHEDULER_DATABASE_URL=database_url,
        SCHEDULER_ALLOW_PRIVATE_WEBHOOK_TARGETS="true",
    )
    server = await asyncio.to_thread(Server, tmp_path, env)
    try:
        await asyncio.to_thread(_use_client, server.port, tmp_path)
    finally:
        await asyncio.to_thread(server.stop)
    log = server.log.read_text()
    assert "Traceback" not in log, log
