"""A webhook's ``format``: chosen at creation, changed by PATCH, refused with a
422 naming the field when unknown, and held to the same URL rules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from scheduler.http.app import create_app
from tests.conftest import AUTH, FakeClock, make_settings

Client = TestClient[Any, Any]
HOOK = {"url": "https://hooks.example/broadcast"}


@pytest.fixture
async def open_client(
    aiohttp_client: Any, tmp_path: Path, database_url: str, clock: FakeClock
) -> Client:
    """Webhook URLs may name loopback here (the format rules are the subject)."""
    settings = make_settings(tmp_path, database_url, allow_private_webhook_targets=True)
    result: Client = await aiohttp_client(create_app(settings, clock=clock))
    return result


async def hooks(client: Client) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = (await (await client.get("/api/webhooks", headers=AUTH)).json())[
        "items"
    ]
    return items


async def test_format_defaults_to_standard_and_each_chat_format_can_be_chosen(
    open_client: Client,
) -> None:
    resp = await open_client.post("/api/webhooks", json=HOOK, headers=AUTH)
    assert resp.status == 201
    assert (await resp.json())["format"] == "standard"
    for format_ in ("slack", "discord", "teams", "standard"):
        resp = await open_client.post(
            "/api/webhooks", json={**HOOK, "format": format_}, headers=AUTH
        )
        assert resp.status == 201
        created = await resp.json()
        assert created["format"] == format_
        shown = await (await open_client.get(f"/api/webhooks/{created['id']}", headers=AUTH)).json()
        assert shown["format"] == format_ and "secret" not in shown
    # (created at one instant of the fake clock: listed in id order)
    assert sorted(h["format"] for h in await hooks(open_client)) == [
        "discord",
        "slack",
        "standard",
        "standard",
        "teams",
    ]


@pytest.mark.parametrize("bad", ["Slack", "msteams", "", "x" * 500, 3, None, ["slack"]])
async def test_an_unknown_format_is_422_naming_the_field_and_nothing_is_stored(
    open_client: Client, bad: Any
) -> None:
    resp = await open_client.post("/api/webhooks", json={**HOOK, "format": bad}, headers=AUTH)
    assert resp.status == 422
    assert resp.content_type == "application/problem+json"
    problem = await resp.json()
    assert problem["errors"][0]["field"] == "format"
    if isinstance(bad, str):
        assert "standard, slack, discord, teams" in problem["errors"][0]["message"]
        assert len(problem["detail"]) < 300  # a long value is not echoed whole
    assert await hooks(open_client) == []


async def test_patch_changes_the_format_and_refuses_an_unknown_or_null_one(
    open_client: Client,
) -> None:
    created = await (await open_client.post("/api/webhooks", json=HOOK, headers=AUTH)).json()
    url = f"/api/webhooks/{created['id']}"
    for bad in ("telegram", None):
        resp = await open_client.patch(url, json={"format": bad}, headers=AUTH)
        assert resp.status == 422
        assert (await resp.json())["errors"][0]["field"] == "format"
    assert (await (await open_client.get(url, headers=AUTH)).json())["format"] == "standard"
    resp = await open_client.patch(url, json={"format": "discord"}, headers=AUTH)
    assert resp.status == 200
    assert (await resp.json())["format"] == "discord"
    assert (await (await open_client.get(url, headers=AUTH)).json())["format"] == "discord"


@pytest.mark.parametrize("format_", ["slack", "discord", "teams"])
async def test_chat_formats_obey_the_same_target_rules(client: Client, format_: str) -> None:
    """The SSRF guard does not care about the format: a private target is refused."""
    for url in ("http://127.0.0.1:9/hook", "http://169.254.169.254/latest"):
        resp = await client.post(
            "/api/webhooks", json={"url": url, "format": format_}, headers=AUTH
        )
        assert resp.status == 422, url
        assert (await resp.json())["errors"][0]["field"] == "url"
    listing = await (await client.get("/api/webhooks", headers=AUTH)).json()
    assert listing["items"] == []


async def test_the_api_document_lists_the_formats(client: Client) -> None:
    spec = await (await client.get("/api/openapi.json")).json()
    schemas = spec["components"]["schemas"]
    for name in ("SubscriptionCreate", "SubscriptionPublic"):
        assert schemas[name]["properties"]["format"]["enum"] == [
            "standard",
            "slack",
            "discord",
            "teams",
        ], name
