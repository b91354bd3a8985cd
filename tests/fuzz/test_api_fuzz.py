"""Fuzzing the public interface: whatever is sent, no 5xx, problem+json on 4xx, nothing stored.

Runs against a real app on each backend (SQLite file, PostgreSQL). Every test
keeps one app across its examples, so state accumulates as it would on a
server under attack; after each refusal the stored events and webhooks are
compared with what they were before the request. The number of examples per
test is ``FUZZ_EXAMPLES`` (default 60: the CI budget); raise it locally to dig.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import AUTH, FakeClock
from tests.fuzz import strategies as fz

Client = TestClient[Any, Any]

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "60"))
fuzz = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def q(text: str) -> str:
    """Percent-encode anything, lone surrogates too (they arrive as invalid UTF-8)."""
    return quote(text, safe="", errors="surrogatepass")


async def check(resp: Any) -> int:
    """The invariants of every answer; returns its status."""
    body = await resp.read()
    assert resp.status < 500, f"{resp.method} {resp.url} -> {resp.status}: {body[:500]!r}"
    if resp.status >= 400 and resp.method != "HEAD":
        assert resp.content_type == "application/problem+json", (resp.status, body[:300])
        problem = await resp.json(content_type=None)
        assert problem["status"] == resp.status
        assert isinstance(problem["detail"], str) and problem["detail"]
    return int(resp.status)


async def snapshot(client: Client) -> Any:
    """What is stored, in a form that changes with any write."""
    events = await (await client.get("/api/events", params={"limit": "500"})).json()
    hooks = await (await client.get("/api/webhooks", headers=AUTH)).json()
    return (
        [(e["id"], e["sequence"], e["updated_at"], e["status"]) for e in events["items"]],
        [(h["id"], h["updated_at"]) for h in hooks["items"]],
    )


async def send(client: Client, method: str, path: str, **kwargs: Any) -> int:
    """Send a write and check that a refusal stored nothing."""
    before = await snapshot(client)
    status = await check(await client.request(method, path, **kwargs))
    if status >= 400:
        assert await snapshot(client) == before, f"{method} {path} -> {status} changed the store"
    return status


async def assert_readable_everywhere(client: Client, event_id: str) -> None:
    """A stored event must not break any view of it (the year-9999 feed outage)."""
    for path in (
        f"/api/events/{event_id}",
        f"/api/events/{event_id}/status",
        f"/events/{event_id}.ics",
        "/calendar.ics",
        "/api/events",
        "/api/live",
    ):
        assert await check(await client.get(path)) == 200, path


plausible_events = st.fixed_dictionaries(
    {
        "title": st.text(min_size=1, max_size=40),
        "timezone": st.sampled_from(fz.ZONES),
        "start": st.datetimes(min_value=datetime(1890, 1, 1), max_value=datetime(2210, 1, 1)),
        "minutes": st.integers(min_value=-10, max_value=60 * 24 * 40),
        "reminders": st.lists(st.integers(min_value=0, max_value=40320), max_size=3),
    }
)


@fuzz
@given(event=plausible_events)
async def test_events_at_any_time_in_any_zone(client: Client, event: dict[str, Any]) -> None:
    start: datetime = event["start"].replace(second=0, microsecond=0)
    body = {
        "title": event["title"],
        "timezone": event["timezone"],
        "start": start.isoformat(timespec="minutes"),
        "end": (start + timedelta(minutes=event["minutes"])).isoformat(timespec="minutes"),
        "reminders": event["reminders"],
    }
    resp = await client.post("/api/events", json=body, headers=AUTH)
    status = await check(resp)
    if status == 201:
        await assert_readable_everywhere(client, (await resp.json())["id"])


@fuzz
@given(
    body=fz.bodies("EventCreate"),
    content_type=fz.content_types,
    key=st.one_of(st.none(), fz.header_text),
)
async def test_create_event_with_hostile_bodies(
    client: Client, body: bytes, content_type: str, key: str | None
) -> None:
    headers = {**AUTH, "Content-Type": content_type}
    if key is not None:
        headers["Idempotency-Key"] = key
    status = await send(client, "POST", "/api/events", data=body, headers=headers)
    assert status in (201, 400, 409, 413, 415, 422)


@fuzz
@given(data=st.data())
async def test_change_an_event_with_hostile_bodies_and_preconditions(
    client: Client, clock: FakeClock, data: st.DataObject
) -> None:
    created = await client.post("/api/events", json=fz.event_body(clock()), headers=AUTH)
    assert created.status == 201
    event = await created.json()
    etag = created.headers["ETag"]
    body = data.draw(fz.bodies("EventUpdate", base={}))
    if_match = data.draw(st.one_of(st.none(), st.just(etag), st.just("*"), fz.header_text))
    headers = {**AUTH, "Content-Type": "application/json"}
    if if_match is not None:
        headers["If-Match"] = if_match
    path = f"/api/events/{event['id']}"
    action = data.draw(st.sampled_from(["PATCH", "cancel", "DELETE", "start", "end"]))
    if action == "PATCH":
        await send(client, "PATCH", path, data=body, headers=headers)
    elif action == "DELETE":
        await send(client, "DELETE", path, headers=headers)
    else:
        await send(client, "POST", f"{path}/{action}", headers=headers)


query_values = st.one_of(
    st.sampled_from(fz.HOSTILE_STRINGS), fz.instants(), st.text(max_size=30), st.integers().map(str)
)


@fuzz
@given(
    params=st.dictionaries(
        st.sampled_from(["from", "to", "limit", "cursor", "status", "channel", "junk"]),
        query_values,
        max_size=4,
    )
)
async def test_list_events_with_hostile_query_strings(
    client: Client, params: dict[str, str]
) -> None:
    query = "&".join(f"{q(k)}={q(v)}" for k, v in params.items())
    assert await check(await client.get(f"/api/events?{query}")) in (200, 400, 422)


@fuzz
@given(
    segment=st.one_of(st.text(min_size=1, max_size=80), st.sampled_from(fz.HOSTILE_STRINGS[1:])),
    suffix=st.sampled_from(["", "/status", ".ics", "/cancel"]),
)
async def test_hostile_ids_in_paths(client: Client, segment: str, suffix: str) -> None:
    quoted = q(segment)
    if suffix == ".ics":
        path, method = f"/events/{quoted}.ics", "GET"
    elif suffix == "/cancel":
        path, method = f"/api/events/{quoted}/cancel", "POST"
    else:
        path, method = f"/api/events/{quoted}{suffix}", "GET"
    status = await send(client, method, path, headers=AUTH)
    assert status in (200, 400, 404, 405)  # 400: request line too long


@fuzz
@given(body=fz.bodies("SubscriptionCreate"), content_type=fz.content_types)
async def test_create_webhooks_with_hostile_bodies(
    hooks_client: Client, body: bytes, content_type: str
) -> None:
    status = await send(
        hooks_client,
        "POST",
        "/api/webhooks",
        data=body,
        headers={**AUTH, "Content-Type": content_type},
    )
    assert status in (201, 400, 413, 415, 422)


@fuzz
@given(data=st.data())
async def test_change_webhooks_and_read_their_log_with_hostile_input(
    hooks_client: Client, data: st.DataObject
) -> None:
    client = hooks_client
    created = await client.post(
        "/api/webhooks", json={"url": "http://127.0.0.1:9/hook"}, headers=AUTH
    )
    assert created.status == 201
    sub = await created.json()
    path = f"/api/webhooks/{sub['id']}"
    headers = {**AUTH, "Content-Type": "application/json"}
    if_match = data.draw(st.one_of(st.none(), st.just(created.headers["ETag"]), fz.header_text))
    if if_match is not None:
        headers["If-Match"] = if_match
    action = data.draw(st.sampled_from(["PATCH", "DELETE", "log", "delivery"]))
    if action == "PATCH":
        await send(
            client,
            "PATCH",
            path,
            data=data.draw(fz.bodies("SubscriptionUpdate", base={})),
            headers=headers,
        )
    elif action == "DELETE":
        await send(client, "DELETE", path, headers=headers)
    elif action == "log":
        params = data.draw(
            st.dictionaries(st.sampled_from(["limit", "state"]), query_values, max_size=2)
        )
        query = "&".join(f"{k}={q(v)}" for k, v in params.items())
        status = await check(await client.get(f"{path}/deliveries?{query}", headers=AUTH))
        assert status in (200, 400, 422)
    else:
        segment = q(data.draw(st.text(min_size=1, max_size=70)))
        assert await check(await client.get(f"{path}/deliveries/{segment}", headers=AUTH)) in (404,)


@fuzz
@given(
    authorization=st.one_of(
        st.none(),
        fz.header_text,
        fz.header_text.map(lambda t: f"Bearer {t}"),
        st.just("Bearer"),
        st.just("Basic dGVzdDp0ZXN0"),
    )
)
async def test_writes_without_a_valid_token_are_401_and_change_nothing(
    client: Client, clock: FakeClock, authorization: str | None
) -> None:
    headers = {"Content-Type": "application/json"}
    if authorization is not None:
        headers["Authorization"] = authorization
    status = await send(client, "POST", "/api/events", json=fz.event_body(clock()), headers=headers)
    assert status == 401
