"""The OpenAPI document is valid, covers every route, and matches real responses."""

from __future__ import annotations

from typing import Any

import jsonschema
from aiohttp.test_utils import TestClient
from openapi_spec_validator import validate

from tests.conftest import AUTH, BRUSSELS

Client = TestClient[Any, Any]


async def test_document_is_valid_openapi(client: Client) -> None:
    resp = await client.get("/api/openapi.json")
    assert resp.status == 200
    validate(await resp.json())


async def test_every_route_is_documented(client: Client) -> None:
    doc = await (await client.get("/api/openapi.json")).json()
    served = set()
    for route in client.app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter")
        if route.method in ("HEAD", "*"):
            continue
        served.add((path, route.method.lower()))
    documented = {
        (path, method)
        for path, item in doc["paths"].items()
        for method in item
        if method != "parameters"
    }
    assert served == documented


def _response_schema(doc: dict[str, Any], path: str, method: str, status: int) -> dict[str, Any]:
    response = doc["paths"][path][method]["responses"][str(status)]
    content = next(iter(response["content"].values()))
    return {**content["schema"], "components": doc["components"]}


async def test_responses_match_their_schemas(client: Client) -> None:
    doc = await (await client.get("/api/openapi.json")).json()

    # refs point at #/components/...; resolve them against the whole document
    def check(instance: Any, path: str, method: str, status: int) -> None:
        schema = _response_schema(doc, path, method, status)
        jsonschema.validate(instance, schema)

    resp = await client.post("/api/events", json=BRUSSELS, headers=AUTH)
    event = await resp.json()
    check(event, "/api/events", "post", 201)
    check(await (await client.get("/api/events")).json(), "/api/events", "get", 200)
    check(event, "/api/events/{id}", "get", 200)
    bad = await client.post("/api/events", json={**BRUSSELS, "timezone": "Nowhere"}, headers=AUTH)
    check(await bad.json(), "/api/events", "post", 422)
    missing = await client.get("/api/events/nope")
    check(await missing.json(), "/api/events/{id}", "get", 404)


async def test_webhook_responses_match_their_schemas(
    aiohttp_client: Any, tmp_path: Any, database_url: str
) -> None:
    from scheduler.http.app import create_app
    from tests.conftest import make_settings
    from tests.receiver import Receiver

    client: Client = await aiohttp_client(
        create_app(make_settings(tmp_path, database_url, allow_private_webhook_targets=True))
    )
    doc = await (await client.get("/api/openapi.json")).json()
    receiver = Receiver()
    await receiver.start()
    try:

        def check(instance: Any, path: str, method: str, status: int) -> None:
            jsonschema.validate(instance, _response_schema(doc, path, method, status))

        sub = await (
            await client.post("/api/webhooks", json={"url": receiver.url}, headers=AUTH)
        ).json()
        check(sub, "/api/webhooks", "post", 201)
        check(
            await (await client.get("/api/webhooks", headers=AUTH)).json(),
            "/api/webhooks",
            "get",
            200,
        )
        ping = await (await client.post(f"/api/webhooks/{sub['id']}/ping", headers=AUTH)).json()
        check(ping, "/api/webhooks/{id}/ping", "post", 200)
        log = await (await client.get(f"/api/webhooks/{sub['id']}/deliveries", headers=AUTH)).json()
        check(log, "/api/webhooks/{id}/deliveries", "get", 200)
        assert log["items"][0]["attempt_log"][0]["status"] == 200
    finally:
        await receiver.stop()


async def test_operations_are_named_and_instants_are_date_times(client: Client) -> None:
    doc = await (await client.get("/api/openapi.json")).json()
    ids = [op["operationId"] for item in doc["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids))
    assert "create_event" in ids and "get_event_status" in ids
    schemas = doc["components"]["schemas"]
    for name in ("start_utc", "start", "created_at", "cancelled_at"):
        prop = schemas["EventPublic"]["properties"][name]
        variants = prop.get("anyOf", [prop])
        assert {"type": "string", "format": "date-time"}.items() <= variants[0].items(), name
    # fields that cannot be removed are optional but never null
    for name in ("title", "timezone", "start", "end"):
        assert "anyOf" not in schemas["EventUpdate"]["properties"][name]
    assert schemas["Liveness"]["properties"].keys() == {"status", "version"}


async def test_an_empty_cursor_is_refused_like_every_empty_filter(client: Client) -> None:
    resp = await client.get("/api/events?cursor=")
    assert resp.status == 422
    assert (await resp.json())["errors"][0]["field"] == "cursor"
