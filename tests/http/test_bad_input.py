"""Bad input gets a clear 4xx naming the problem, and nothing is stored."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.conftest import AUTH, BRUSSELS

Client = TestClient[Any, Any]
JSON = {**AUTH, "Content-Type": "application/json"}


async def assert_nothing_stored(client: Client) -> None:
    listing = await (await client.get("/api/events")).json()
    assert listing["items"] == []


@pytest.mark.parametrize(
    ("fields", "field", "phrase"),
    [
        ({"start": "2019-03-31T02:30", "end": "2019-03-31T04:00"}, "start", "does not exist"),
        ({"start": "2019-10-27T02:30", "end": "2019-10-27T04:00"}, "start", "ambiguous"),
        ({"start": "2019-10-27T01:00", "end": "2019-10-27T02:30"}, "end", "ambiguous"),
        ({"start": "2018-05-22T18:15+01:00"}, "start", "is not a time in Europe/Brussels"),
        ({"timezone": "Europe/Bruxelles"}, "timezone", "not an IANA time zone"),
        ({"end": "2018-05-22T18:00"}, "end", "must be after start"),
        ({"start": "next tuesday"}, "start", "not a date and time"),
        ({"start": 1527005700}, "start", "valid string"),
        ({"title": ""}, "title", "at least 1 character"),
        ({"title": "x" * 201}, "title", "at most 200"),
        ({"reminders": [-5]}, "reminders", "out of range"),
        ({"reminders": "15"}, "reminders", "valid list"),
        ({"stream_url": "javascript:alert(1)"}, "stream_url", "http"),
        ({"channel": "Not A Slug!"}, "channel", "pattern"),
        ({"colour": "red"}, "colour", "unknown field"),
    ],
)
async def test_invalid_fields_are_422_naming_the_field(
    client: Client, fields: dict[str, Any], field: str, phrase: str
) -> None:
    resp = await client.post("/api/events", json={**BRUSSELS, **fields}, headers=AUTH)
    assert resp.status == 422
    assert resp.content_type == "application/problem+json"
    problem = await resp.json()
    assert problem["status"] == 422
    assert problem["errors"][0]["field"] == field
    assert phrase in problem["errors"][0]["message"]
    await assert_nothing_stored(client)


@pytest.mark.parametrize("missing", ["title", "timezone", "start", "end"])
async def test_missing_fields(client: Client, missing: str) -> None:
    body = {k: v for k, v in BRUSSELS.items() if k != missing}
    resp = await client.post("/api/events", json=body, headers=AUTH)
    assert resp.status == 422
    assert (await resp.json())["errors"] == [
        {"field": missing, "message": "this field is required"}
    ]
    await assert_nothing_stored(client)


@pytest.mark.parametrize(
    ("body", "status", "phrase"),
    [
        (b'{"title": ', 400, "not valid JSON"),
        (b"", 400, "empty"),
        (b"[1, 2]", 400, "JSON object"),
        (b"\xff\xfe", 400, "UTF-8"),
    ],
)
async def test_malformed_bodies(client: Client, body: bytes, status: int, phrase: str) -> None:
    resp = await client.post("/api/events", data=body, headers=JSON)
    assert resp.status == status
    assert phrase in (await resp.json())["detail"]
    await assert_nothing_stored(client)


async def test_wrong_content_type(client: Client) -> None:
    resp = await client.post(
        "/api/events", data="title=x", headers={**AUTH, "Content-Type": "text/plain"}
    )
    assert resp.status == 415


async def test_oversized_body_is_413(client: Client) -> None:
    body = {**BRUSSELS, "description": "x" * 70000}
    resp = await client.post("/api/events", json=body, headers=AUTH)
    assert resp.status == 413
    assert resp.content_type == "application/problem+json"
    assert "65536 bytes" in (await resp.json())["detail"]
    await assert_nothing_stored(client)


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong-token-wrong-token"}, {"Authorization": "Basic abc"}],
)
async def test_writes_need_the_token(client: Client, headers: dict[str, str]) -> None:
    resp = await client.post("/api/events", json=BRUSSELS, headers=headers)
    assert resp.status == 401
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    await assert_nothing_stored(client)


async def test_reads_are_public(client: Client) -> None:
    resp = await client.get("/api/events")
    assert resp.status == 200


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "yesterday"}, "from"),
        ({"to": "2018-05-22T18:15"}, "to"),
        ({"status": "paused"}, "status"),
        ({"limit": "0"}, "limit"),
        ({"limit": "100000"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"cursor": "not-a-cursor"}, "cursor"),
    ],
)
async def test_bad_list_parameters(client: Client, params: dict[str, str], field: str) -> None:
    resp = await client.get("/api/events", params=params)
    assert resp.status == 422
    assert (await resp.json())["errors"][0]["field"] == field


async def test_unknown_routes_and_methods(client: Client) -> None:
    resp = await client.get("/api/nothing-here")
    assert resp.status == 404
    assert resp.content_type == "application/problem+json"
    resp = await client.put("/api/events", json=BRUSSELS, headers=AUTH)
    assert resp.status == 405
    assert "POST" in resp.headers["Allow"]


async def test_idempotency_key_too_long(client: Client) -> None:
    resp = await client.post(
        "/api/events", json=BRUSSELS, headers={**AUTH, "Idempotency-Key": "k" * 300}
    )
    assert resp.status == 422
    await assert_nothing_stored(client)
