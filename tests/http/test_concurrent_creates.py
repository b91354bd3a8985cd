"""Concurrent creates through HTTP, on SQLite and on PostgreSQL: however the service
groups them into transactions, each request gets its own exact answer."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp.test_utils import TestClient

from tests.conftest import AUTH, BRUSSELS

Client = TestClient[Any, Any]


async def post(
    client: Client, body: dict[str, Any], key: str | None = None
) -> tuple[int, Any, Any, bytes]:
    headers = {**AUTH, "Idempotency-Key": key} if key else AUTH
    resp = await client.post("/api/events", json=body, headers=headers)
    raw = await resp.read()
    return resp.status, resp.headers, await resp.json(), raw


def variant(i: int) -> dict[str, Any]:
    return {
        **BRUSSELS,
        "title": f"Session {i}",
        "channel": f"room-{i % 3}",
        "start": f"2018-05-{22 + i % 5}T{10 + i % 8}:15",
        "end": f"2018-05-{22 + i % 5}T{10 + i % 8}:45",
        "reminders": list(range(0, 60, 10))[: i % 4],
    }


async def test_concurrent_creates_each_answer_their_own_event(client: Client) -> None:
    bodies = [variant(i) for i in range(24)]
    answers = await asyncio.gather(*(post(client, body) for body in bodies))
    ids = set()
    for body, (status, headers, event, raw) in zip(bodies, answers, strict=True):
        assert status == 201, event
        assert "Idempotent-Replayed" not in headers
        assert (event["title"], event["channel"]) == (body["title"], body["channel"])
        assert event["start"].startswith(body["start"])
        assert len(event["triggers"]) == len(set(body["reminders"])) + 2
        assert headers["Location"] == f"/api/events/{event['id']}"
        ids.add(event["id"])
        # the answer is the stored event, triggers and ETag included, byte for byte
        stored = await client.get(f"/api/events/{event['id']}")
        assert await stored.read() == raw
        assert stored.headers["ETag"] == headers["ETag"]
    assert len(ids) == len(bodies)
    listing = await (await client.get("/api/events", params={"limit": "100"})).json()
    assert {e["id"] for e in listing["items"]} == ids


async def test_racing_requests_with_one_key_replay_the_winner(client: Client) -> None:
    answers = await asyncio.gather(*(post(client, BRUSSELS, key="race-1") for _ in range(8)))
    assert {answer[0] for answer in answers} == {201}
    assert len({answer[2]["id"] for answer in answers}) == 1
    replayed = [answer[1].get("Idempotent-Replayed") for answer in answers]
    assert replayed.count(None) == 1 and replayed.count("true") == 7
    assert all(answer[3] == answers[0][3] for answer in answers)  # the same bytes
    listing = await (await client.get("/api/events")).json()
    assert [e["id"] for e in listing["items"]] == [answers[0][2]["id"]]


async def test_a_clash_among_concurrent_creates_leaves_the_others_alone(client: Client) -> None:
    plain = [variant(i) for i in range(12)]
    other = {**BRUSSELS, "title": "Another body"}
    requests = [post(client, body) for body in plain]
    requests += [post(client, BRUSSELS, key="shared") for _ in range(3)]
    requests += [post(client, BRUSSELS, key="contested"), post(client, other, key="contested")]
    answers = await asyncio.gather(*requests)

    for body, (status, _, event, _) in zip(plain, answers[:12], strict=True):
        assert status == 201, event
        assert event["title"] == body["title"]
    shared = answers[12:15]
    assert {answer[0] for answer in shared} == {201}
    assert len({answer[2]["id"] for answer in shared}) == 1
    assert [answer[1].get("Idempotent-Replayed") for answer in shared].count("true") == 2
    contested = sorted(answer[0] for answer in answers[15:])
    assert contested == [201, 422]  # one body won the key; the other is told so
    refused = next(answer[2] for answer in answers[15:] if answer[0] == 422)
    assert "Idempotency-Key" in refused["detail"]

    listing = await (await client.get("/api/events", params={"limit": "100"})).json()
    assert len(listing["items"]) == 12 + 1 + 1
