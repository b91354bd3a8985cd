"""Chat-format webhooks end to end: API -> triggers -> real receivers on loopback.

One receiver per format (Slack, Discord, Teams) stands in for the platform:
it records each request, and the test checks the body against what the
platform accepts (``tests.chat_platforms``), the headers (``webhook-id``, no
signature), and that retries and the delivery log work as for the standard
format. The service runs on its real clock; nothing waits for more than a
few seconds.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.chat_platforms import PROBLEMS, VISIBLE, stream_links
from tests.conftest import AUTH
from tests.helpers import Client, create_event, local_in, settled_delivery, subscribe
from tests.receiver import Receiver

FORMATS = ("slack", "discord", "teams")
SIGNATURE_HEADERS = ("webhook-signature", "webhook-timestamp")
HOSTILE_TITLE = ("🎙️ <!channel> @everyone <@&123> Q&A " * 8)[:200].strip()
HOSTILE_DESCRIPTION = ("Agenda 👩‍👩‍👧 <!here> @here <@&123> *bold* & more\n" * 300)[:10_000]


@pytest.fixture
async def receivers() -> AsyncIterator[dict[str, Receiver]]:
    started = {}
    for format_ in FORMATS:
        receiver = Receiver()
        await receiver.start()
        started[format_] = receiver
    yield started
    for receiver in started.values():
        await receiver.stop()


async def subscribe_all(
    client: Client, receivers: dict[str, Receiver], types: list[str]
) -> dict[str, dict[str, Any]]:
    return {
        format_: await subscribe(client, receiver, types=types, format=format_)
        for format_, receiver in receivers.items()
    }


def unsigned(received: Any) -> bool:
    return not any(name in received.headers for name in SIGNATURE_HEADERS)


async def test_each_format_gets_a_body_its_platform_accepts_with_hostile_text_neutralised(
    app_client: Client, receivers: dict[str, Receiver]
) -> None:
    subs = await subscribe_all(app_client, receivers, ["event.started"])
    for format_, sub in subs.items():
        assert sub["format"] == format_
    event = await create_event(
        app_client,
        title=HOSTILE_TITLE,
        description=HOSTILE_DESCRIPTION,
        stream_url="https://ep.example/live?session=1&lang=en",
        start=local_in(2),
        end=local_in(3600),
    )
    for format_, receiver in receivers.items():
        await receiver.wait_for(1, timeout=6)
        got = receiver.received[0]
        assert PROBLEMS[format_](got.body) == [], format_
        assert unsigned(got) and got.webhook_id.startswith("msg_"), got.headers
        assert got.headers["Content-Type"] == "application/json"
        seen = VISIBLE[format_](got.body)
        assert "is live now" in seen or "Is live now" in seen
        assert "Agenda" in seen and "…" in seen  # the description was cut to fit
        assert stream_links(format_, got.body) == ["https://ep.example/live?session=1&lang=en"]
        raw = json.dumps(got.body, ensure_ascii=False)
        assert "<!channel>" not in raw and "<!here>" not in raw
        if format_ == "discord":
            assert "@everyone" not in raw and "@here" not in raw
        log = await settled_delivery(app_client, subs[format_]["id"])
        assert log["id"] == got.webhook_id and log["state"] == "succeeded"
        assert log["event_id"] == event["id"]


async def test_chat_deliveries_are_retried_and_logged_like_standard_ones(
    app_client: Client, receivers: dict[str, Receiver]
) -> None:
    """A failed attempt is retried with the same id and the same bytes; the log
    shows both attempts; 410 deactivates the endpoint."""
    receivers["slack"].answers.extend([500, 200])
    receivers["discord"].answers.extend([(429, {"Retry-After": "1"}), 204])
    receivers["teams"].answers.extend([410])
    subs = await subscribe_all(app_client, receivers, ["event.cancelled"])
    event = await create_event(app_client, start=local_in(3600), end=local_in(7200))
    resp = await app_client.post(f"/api/events/{event['id']}/cancel", headers=AUTH)
    assert resp.status == 200

    for format_ in ("slack", "discord"):
        receiver = receivers[format_]
        await receiver.wait_for(2, timeout=6)
        first, second = receiver.received[:2]
        assert first.webhook_id == second.webhook_id
        assert first.body == second.body
        assert "was cancelled" in VISIBLE[format_](first.body)
        assert unsigned(first) and unsigned(second)
        log = await settled_delivery(app_client, subs[format_]["id"])
        assert log["state"] == "succeeded" and log["attempts"] == 2
        assert [a["status"] for a in log["attempt_log"]] == [first.answered, second.answered]

    await receivers["teams"].wait_for(1, timeout=3)
    log = await settled_delivery(app_client, subs["teams"]["id"])
    assert log["state"] == "dead" and log["last_status"] == 410
    hook = await (await app_client.get(f"/api/webhooks/{subs['teams']['id']}", headers=AUTH)).json()
    assert hook["active"] is False
    await asyncio.sleep(0.3)
    assert len(receivers["teams"].received) == 1


async def test_a_moved_event_is_announced_with_its_new_time(
    app_client: Client, receivers: dict[str, Receiver]
) -> None:
    await subscribe_all(app_client, receivers, ["event.updated"])
    event = await create_event(app_client, start="2030-03-31T09:00", end="2030-03-31T10:00")
    moved = await app_client.patch(
        f"/api/events/{event['id']}",
        json={"start": "2030-03-31T10:00", "end": "2030-03-31T11:00"},
        headers=AUTH,
    )
    assert moved.status == 200
    retitled = await app_client.patch(
        f"/api/events/{event['id']}", json={"title": "EP webstream, new title"}, headers=AUTH
    )
    assert retitled.status == 200
    for format_, receiver in receivers.items():
        await receiver.wait_for(2, timeout=5)
        # the two messages may arrive in either order (sent concurrently)
        seen = sorted((VISIBLE[format_](r.body) for r in receiver.received[:2]), key=len)
        first = next(text for text in seen if "as moved to" in text)
        second = next(text for text in seen if text is not first)
        assert "as moved to Sun 31 Mar 2030 10:00 Europe/Brussels" in first, first
        assert "Sun 31 Mar 2030 10:00-11:00 Europe/Brussels (UTC+02:00)" in first
        assert "Sun 31 Mar 2030 08:00-09:00 UTC" in first
        assert "as changed" in second and "EP webstream, new title" in second


async def test_a_ping_to_a_chat_webhook_is_a_message_in_its_format(
    app_client: Client, receivers: dict[str, Receiver]
) -> None:
    subs = await subscribe_all(app_client, receivers, ["event.reminder", "event.started"])
    for format_, sub in subs.items():
        resp = await app_client.post(f"/api/webhooks/{sub['id']}/ping", headers=AUTH)
        assert resp.status == 200
        ping = await resp.json()
        assert ping["state"] == "succeeded"
        got = receivers[format_].received[-1]
        assert got.webhook_id == ping["id"] and unsigned(got)
        assert PROBLEMS[format_](got.body) == []
        seen = VISIBLE[format_](got.body)
        assert "broadcast-scheduler" in seen and "reminder, started" in seen


async def test_a_webhook_switched_to_a_chat_format_gets_its_next_message_in_it(
    app_client: Client, receiver: Receiver
) -> None:
    sub = await subscribe(app_client, receiver, types=["event.cancelled"])
    first = await create_event(app_client, start=local_in(3600), end=local_in(7200))
    await app_client.post(f"/api/events/{first['id']}/cancel", headers=AUTH)
    await receiver.wait_for(1, timeout=3)
    assert receiver.received[0].verified and receiver.received[0].type == "event.cancelled"

    resp = await app_client.patch(
        f"/api/webhooks/{sub['id']}", json={"format": "discord"}, headers=AUTH
    )
    assert resp.status == 200
    second = await create_event(app_client, start=local_in(3600), end=local_in(7200))
    await app_client.post(f"/api/events/{second['id']}/cancel", headers=AUTH)
    await receiver.wait_for(2, timeout=3)
    got = receiver.received[1]
    assert PROBLEMS["discord"](got.body) == [] and unsigned(got)
    assert "was cancelled" in VISIBLE["discord"](got.body)
