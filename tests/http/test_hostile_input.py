"""What a stranger or a clumsy client sends gets a clear 4xx, never a 500, and changes nothing.

Each case here was a 500 (or a silent acceptance) found by trying the service
as an attacker would; they are kept as explicit regression examples beside the
property-based fuzzing in ``tests/fuzz``.
"""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from scheduler.http.app import create_app
from tests.conftest import AUTH, BRUSSELS, FakeClock, make_settings

Client = TestClient[Any, Any]
JSON = {**AUTH, "Content-Type": "application/json"}


async def assert_problem(resp: Any, status: int, field: str | None = None) -> dict[str, Any]:
    assert resp.status == status, await resp.text()
    assert resp.content_type == "application/problem+json"
    problem: dict[str, Any] = await resp.json()
    assert problem["status"] == status
    assert problem["detail"]
    if field is not None:
        assert problem["errors"][0]["field"] == field, problem
    return problem


async def assert_no_events(client: Client) -> None:
    listing = await (await client.get("/api/events")).json()
    assert listing["items"] == []


HOOK_URL = "http://127.0.0.1:9/hook"  # nothing listens; no delivery is made here


@pytest.fixture
async def hooks(aiohttp_client: Any, tmp_path: Path, database_url: str, clock: FakeClock) -> Client:
    """An app that accepts loopback webhook URLs (the SSRF guard is tested elsewhere)."""
    settings = make_settings(tmp_path, database_url, allow_private_webhook_targets=True)
    result: Client = await aiohttp_client(create_app(settings, clock=clock))
    return result


async def create_webhook(client: Client) -> dict[str, Any]:
    created = await client.post("/api/webhooks", json={"url": HOOK_URL}, headers=AUTH)
    assert created.status == 201, await created.text()
    body: dict[str, Any] = await created.json()
    return body


async def create(client: Client, **fields: Any) -> dict[str, Any]:
    resp = await client.post("/api/events", json={**BRUSSELS, **fields}, headers=AUTH)
    assert resp.status == 201, await resp.text()
    body: dict[str, Any] = await resp.json()
    return body


# --- numbers from outside --------------------------------------------------------


@pytest.mark.parametrize("raw", ["²", "٣", "1e3", "-1", "0", " 5", "9" * 5000, "501"])
async def test_limit_is_read_strictly(client: Client, raw: str) -> None:
    resp = await client.get("/api/events", params={"limit": raw})
    await assert_problem(resp, 422, "limit")


async def test_delivery_log_limit_is_read_strictly(hooks: Client) -> None:
    sub = await create_webhook(hooks)
    client = hooks
    resp = await client.get(f"/api/webhooks/{sub['id']}/deliveries?limit=²", headers=AUTH)
    await assert_problem(resp, 422, "limit")


# --- dates outside the years the API accepts ----------------------------------------


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"start": "9999-12-30T18:00", "end": "9999-12-30T19:00"}, "start"),
        ({"timezone": "UTC", "start": "0001-01-01T00:00", "end": "0001-01-01T01:00"}, "start"),
        (
            {
                "timezone": "America/Los_Angeles",
                "start": "9999-12-31T20:00",
                "end": "9999-12-31T21:00",
            },
            "start",
        ),
        ({"start": "2199-12-31T18:00", "end": "2200-01-01T01:00"}, "end"),
        ({"start": "1899-12-31T18:00", "end": "1900-01-01T01:00"}, "start"),
    ],
)
async def test_years_outside_1900_to_2199_are_refused(
    client: Client, fields: dict[str, Any], field: str
) -> None:
    resp = await client.post("/api/events", json={**BRUSSELS, **fields}, headers=AUTH)
    problem = await assert_problem(resp, 422, field)
    assert "1900 to 2199" in problem["detail"]
    await assert_no_events(client)


async def test_an_event_in_the_last_accepted_year_keeps_every_feed_working(client: Client) -> None:
    event = await create(client, start="2199-12-31T18:00", end="2199-12-31T23:00", reminders=[60])
    for path in ("/calendar.ics", f"/events/{event['id']}.ics"):
        resp = await client.get(path)
        assert resp.status == 200, path
        assert "BEGIN:VEVENT" in await resp.text()
    status = await client.get(f"/api/events/{event['id']}/status")
    assert status.status == 200


@pytest.mark.parametrize(
    "value", ["0001-01-01T00:00:00+23:59", "9999-12-31T23:59:59-23:59", "2019-05-22T16:15:00"]
)
async def test_from_and_to_out_of_range_or_naive_are_422(client: Client, value: str) -> None:
    for name in ("from", "to"):
        resp = await client.get("/api/events", params={name: value})
        await assert_problem(resp, 422, name)


# --- bodies -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "phrase"),
    [
        (b"[" * 30000, "nests deeper"),
        (b'{"a":' * 40 + b"1" + b"}" * 40, "nests deeper"),
        (b'{"title": ' + b"9" * 5000 + b"}", "digits"),
        (b'{"title": "a", "title": "b"}', "appears twice"),
        (b'{"reminders": [NaN]}', "not a JSON value"),
        (b'{"reminders": [1e999]}', "too large"),
        (b"\xff\xfe{}", "UTF-8"),
    ],
)
async def test_hostile_json_bodies_are_400(client: Client, raw: bytes, phrase: str) -> None:
    resp = await client.post("/api/events", data=raw, headers=JSON)
    problem = await assert_problem(resp, 400)
    assert phrase in problem["detail"]
    await assert_no_events(client)


@pytest.mark.parametrize("media_type", ["text/jsonp", "application/jsonx", "text/plain"])
async def test_only_json_media_types_are_read(client: Client, media_type: str) -> None:
    resp = await client.post(
        "/api/events",
        data=json.dumps(BRUSSELS),
        headers={**AUTH, "Content-Type": media_type},
    )
    await assert_problem(resp, 415)
    await assert_no_events(client)


async def test_json_suffix_media_types_are_read(client: Client) -> None:
    resp = await client.post(
        "/api/events",
        data=json.dumps(BRUSSELS),
        headers={**AUTH, "Content-Type": "application/merge-patch+json; charset=utf-8"},
    )
    assert resp.status == 201


@pytest.mark.parametrize("value", [[True], [False], [1.5], ["15"]])
async def test_reminders_are_whole_numbers_not_coerced(client: Client, value: list[Any]) -> None:
    resp = await client.post("/api/events", json={**BRUSSELS, "reminders": value}, headers=AUTH)
    await assert_problem(resp, 422)
    await assert_no_events(client)


# --- text ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("title", "Plenary\u0000"),
        ("description", "line\u0000"),
        ("title", "Plenary\nsession"),
        ("title", "Plenary\rsession"),
        ("title", "abc\u202egnp.exe"),
        ("location", "Brussels\u2066"),
        ("description", "bell\u0007"),
        ("description", "escape\u001b[31m"),
        ("title", "c1\u0085next line"),
        ("stream_url", "https://ep.example/\u202elive"),
        ("title", "lone \ud800 surrogate"),
    ],
)
async def test_control_and_bidi_characters_are_refused(
    client: Client, field: str, value: str
) -> None:
    resp = await client.post("/api/events", json={**BRUSSELS, field: value}, headers=AUTH)
    problem = await assert_problem(resp, 422, field)
    if "\ud800" not in value:  # a lone surrogate is not even a string to the parser
        assert "U+" in problem["detail"]
    await assert_no_events(client)


async def test_description_keeps_line_breaks_and_normalises_crlf(client: Client) -> None:
    event = await create(client, description="Agenda:\r\n\t1. Opening\r2. Vote")
    assert event["description"] == "Agenda:\n\t1. Opening\n2. Vote"


async def test_nul_in_a_change_is_refused_and_nothing_changes(client: Client) -> None:
    event = await create(client)
    resp = await client.patch(f"/api/events/{event['id']}", json={"title": "x\u0000"}, headers=AUTH)
    await assert_problem(resp, 422, "title")
    after = await (await client.get(f"/api/events/{event['id']}")).json()
    assert after["title"] == BRUSSELS["title"]
    assert after["sequence"] == event["sequence"]


async def test_control_characters_in_the_idempotency_key_are_refused(client: Client) -> None:
    resp = await client.post(
        "/api/events", json=BRUSSELS, headers={**AUTH, "Idempotency-Key": "k\u202ey"}
    )
    await assert_problem(resp, 422, "Idempotency-Key")
    await assert_no_events(client)


@pytest.mark.parametrize("path", ["/api/events/%00", "/api/events/a%00b/status", "/events/%00.ics"])
async def test_hostile_ids_are_404(client: Client, path: str) -> None:
    resp = await client.get(path)
    await assert_problem(resp, 404)


@pytest.mark.parametrize("channel", ["\u0000", "", "Not A Slug", "x" * 65])
async def test_hostile_channel_filters_are_422(client: Client, channel: str) -> None:
    resp = await client.get("/api/events", params={"channel": channel})
    await assert_problem(resp, 422, "channel")


# --- cursors --------------------------------------------------------------------------


def _cursor(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        _cursor(["2018-05-22T16:15:00", "abc"]),  # naive
        _cursor(["0001-01-01T00:00:00+23:59", "abc"]),  # out of range, shifted
        _cursor(["2018-05-22T16:15:00+05:00", "abc"]),  # not UTC
        _cursor(["2018-05-22T16:15:00+00:00", ["abc"]]),  # wrong shape
        _cursor({"a": 1}),
        base64.urlsafe_b64encode(b"[" * 5000).decode(),  # deep nesting
        "x" * 5000,
        "%%%",
    ],
)
async def test_tampered_cursors_are_422(client: Client, cursor: str) -> None:
    resp = await client.get("/api/events", params={"cursor": cursor})
    await assert_problem(resp, 422, "cursor")


# --- optimistic concurrency -------------------------------------------------------------


async def test_events_carry_an_etag_that_if_match_checks(client: Client) -> None:
    event = await create(client)
    path = f"/api/events/{event['id']}"
    got = await client.get(path)
    etag = got.headers["ETag"]
    assert etag.startswith('"') and etag.endswith('"')

    stale = '"0000"'
    for method, url, body in [
        ("PATCH", path, {"title": "Changed"}),
        ("POST", f"{path}/cancel", None),
        ("DELETE", path, None),
    ]:
        resp = await client.request(method, url, json=body, headers={**AUTH, "If-Match": stale})
        problem = await assert_problem(resp, 412)
        assert "If-Match" in problem["detail"]
    unchanged = await client.get(path)
    assert unchanged.headers["ETag"] == etag
    assert (await unchanged.json())["title"] == BRUSSELS["title"]

    changed = await client.patch(
        path, json={"title": "Changed"}, headers={**AUTH, "If-Match": etag}
    )
    assert changed.status == 200
    new_tag = changed.headers["ETag"]
    assert new_tag != etag
    assert (await client.get(path)).headers["ETag"] == new_tag
    # the old tag no longer allows a write; "*" allows any existing event
    again = await client.patch(path, json={"title": "Lost"}, headers={**AUTH, "If-Match": etag})
    await assert_problem(again, 412)
    star = await client.post(f"{path}/cancel", headers={**AUTH, "If-Match": "*"})
    assert star.status == 200
    # without If-Match, writes go ahead as before
    assert (await client.delete(path, headers=AUTH)).status == 204


async def test_two_concurrent_changes_with_one_etag_cannot_both_win(client: Client) -> None:
    event = await create(client)
    path = f"/api/events/{event['id']}"
    etag = (await client.get(path)).headers["ETag"]

    async def move(start: str) -> int:
        resp = await client.patch(
            path,
            json={"start": start, "end": "2018-05-22T21:00"},
            headers={**AUTH, "If-Match": etag},
        )
        return resp.status

    statuses = sorted(await asyncio.gather(move("2018-05-22T18:30"), move("2018-05-22T19:00")))
    assert statuses == [200, 412]


async def test_webhooks_carry_an_etag_that_if_match_checks(hooks: Client) -> None:
    client = hooks
    created = await client.post("/api/webhooks", json={"url": HOOK_URL}, headers=AUTH)
    assert created.status == 201, await created.text()
    sub = await created.json()
    path = f"/api/webhooks/{sub['id']}"
    etag = (await client.get(path, headers=AUTH)).headers["ETag"]
    assert created.headers["ETag"] == etag
    stale = await client.patch(
        path, json={"description": "x"}, headers={**AUTH, "If-Match": '"nope"'}
    )
    await assert_problem(stale, 412)
    deleted = await client.delete(path, headers={**AUTH, "If-Match": '"nope"'})
    await assert_problem(deleted, 412)
    ok = await client.patch(path, json={"description": "x"}, headers={**AUTH, "If-Match": etag})
    assert ok.status == 200
    assert ok.headers["ETag"] != etag


async def test_webhook_active_flag_is_not_coerced(hooks: Client) -> None:
    sub = await create_webhook(hooks)
    resp = await hooks.patch(f"/api/webhooks/{sub['id']}", json={"active": "yes"}, headers=AUTH)
    await assert_problem(resp, 422, "active")


# --- found in review ------------------------------------------------------------------


async def test_operator_start_and_end_honour_if_match(client: Client) -> None:
    event = await create(client)
    path = f"/api/events/{event['id']}"
    etag = (await client.get(path)).headers["ETag"]
    for action in ("start", "end"):
        stale = await client.post(f"{path}/{action}", headers={**AUTH, "If-Match": '"old"'})
        await assert_problem(stale, 412)
    started = await client.post(f"{path}/start", headers={**AUTH, "If-Match": etag})
    assert started.status == 200
    assert started.headers["ETag"] != etag
    assert (await client.get(path)).headers["ETag"] == started.headers["ETag"]


@pytest.mark.parametrize("zone", ["localtime", "Factory", "posixrules"])
async def test_files_of_the_tz_database_that_are_not_zones_are_refused(
    client: Client, zone: str
) -> None:
    resp = await client.post("/api/events", json={**BRUSSELS, "timezone": zone}, headers=AUTH)
    await assert_problem(resp, 422, "timezone")


async def test_respelling_the_zone_keeps_a_repeated_hour_event(client: Client) -> None:
    event = await create(client, start="2027-10-31T02:15+02:00", end="2027-10-31T03:30")
    resp = await client.patch(
        f"/api/events/{event['id']}", json={"timezone": "europe/brussels"}, headers=AUTH
    )
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["start_utc"] == "2027-10-31T00:15:00Z"


async def test_cursors_work_at_the_edges_of_the_accepted_years(client: Client) -> None:
    # 00:10 on 1 January 1900 in Tokyo is still 1899 in UTC, and 23:00 on the
    # last evening of 2199 in Los Angeles is already 2200: the cursor holds those
    await create(client, timezone="Asia/Tokyo", start="1900-01-01T00:10", end="1900-01-01T01:00")
    await create(
        client, timezone="America/Los_Angeles", start="2199-12-31T23:00", end="2199-12-31T23:30"
    )
    await create(client)
    seen, cursor = [], None
    for _ in range(4):
        params = {"limit": "1", **({"cursor": cursor} if cursor else {})}
        page = await client.get("/api/events", params=params)
        assert page.status == 200, await page.text()
        body = await page.json()
        seen += [e["start_utc"] for e in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == ["1899-12-31T15:10:00Z", "2018-05-22T16:15:00Z", "2200-01-01T07:00:00Z"]
