"""The SSRF guard over HTTP: URLs refused at registration, addresses refused at connect time.

A webhook saved while ``allow_private_webhook_targets`` was on must not reach
the internal address after a restart with it off, even when its URL is an IP
literal (aiohttp never asks the resolver about those). Malformed URLs and IPv6
forms that carry an internal IPv4 address are refused with a 422 on ``url``,
and nothing is stored.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from scheduler.http.app import create_app
from scheduler.timezones import to_local
from tests.conftest import AUTH, make_settings
from tests.receiver import Receiver

Client = TestClient[Any, Any]


async def app_client(
    aiohttp_client: Any, tmp_path: Path, database_url: str, *, allow_private: bool
) -> Client:
    settings = make_settings(
        tmp_path,
        database_url,
        allow_private_webhook_targets=allow_private,
        webhook_retry_schedule=(30,),
        webhook_timeout_seconds=1.0,
        scheduler_refill_seconds=1,
    )
    client: Client = await aiohttp_client(create_app(settings))
    return client


async def webhooks(client: Client) -> list[dict[str, Any]]:
    listing = await (await client.get("/api/webhooks", headers=AUTH)).json()
    items: list[dict[str, Any]] = listing["items"]
    return items


@pytest.mark.parametrize("host", ["127.0.0.1", "[::ffff:127.0.0.1]"])
async def test_ip_literal_saved_while_allowed_is_refused_after_restart(
    aiohttp_client: Any, tmp_path: Path, database_url: str, receiver: Receiver, host: str
) -> None:
    url = f"http://{host}:{receiver.port}/hook"
    lab = await app_client(aiohttp_client, tmp_path, database_url, allow_private=True)
    resp = await lab.post(
        "/api/webhooks", json={"url": url, "types": ["event.started"]}, headers=AUTH
    )
    assert resp.status == 201, await resp.text()
    sub = await resp.json()
    receiver.secrets.append(sub["secret"])
    ping = await (await lab.post(f"/api/webhooks/{sub['id']}/ping", headers=AUTH)).json()
    assert ping["state"] == "succeeded"  # the literal does reach the receiver
    assert len(receiver.received) == 1
    await lab.close()

    # the same database, restarted with private targets forbidden
    prod = await app_client(aiohttp_client, tmp_path, database_url, allow_private=False)
    resp = await prod.post(f"/api/webhooks/{sub['id']}/ping", headers=AUTH)
    assert resp.status == 200
    ping = await resp.json()
    assert ping["state"] == "pending"  # failed, to be retried
    [attempt] = ping["attempt_log"]
    assert attempt["status"] is None
    assert "is forbidden" in attempt["error"]
    assert "127.0.0.1" in attempt["error"]
    assert "a loopback address" in attempt["error"]

    # an event notice is refused the same way
    start = to_local("UTC", datetime.now(UTC) + timedelta(seconds=2))
    resp = await prod.post(
        "/api/events",
        json={
            "title": "EP webstream",
            "timezone": "UTC",
            "start": start.strftime("%Y-%m-%dT%H:%M:%S"),
            "end": (start + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S"),
            "reminders": [],
        },
        headers=AUTH,
    )
    assert resp.status == 201, await resp.text()
    deadline = asyncio.get_running_loop().time() + 8
    while True:
        log = await (await prod.get(f"/api/webhooks/{sub['id']}/deliveries", headers=AUTH)).json()
        notices = [d for d in log["items"] if d["type"] == "event.started" and d["attempts"]]
        if notices or asyncio.get_running_loop().time() > deadline:
            break
        await asyncio.sleep(0.1)
    assert notices, log
    assert "forbidden" in notices[0]["attempt_log"][0]["error"]
    assert notices[0]["state"] == "pending"
    assert len(receiver.received) == 1  # only the first app's ping ever arrived


@pytest.mark.parametrize(
    "url",
    [
        "http://[2002:7f00:1::]/x",  # 6to4 of 127.0.0.1
        "http://[2002:a9fe:a9fe::]/latest/meta-data/",  # 6to4 of the metadata address
        "http://[2002:c0a8:101::1]:8080/x",  # 6to4 of 192.168.1.1
        "http://[2001:0:7f00:1:8000:63bf:3fff:fdd2]/x",  # Teredo via 127.0.0.1
        "http://[64:ff9b::7f00:1]/x",  # NAT64 of 127.0.0.1
        "http://[64:ff9b:1::a00:1]/x",  # local-use NAT64
        "http://[::ffff:0:7f00:1]/x",  # IPv4-translated 127.0.0.1
        "http://[::127.0.0.1]/x",  # IPv4-compatible 127.0.0.1
    ],
)
async def test_ipv6_forms_of_internal_ipv4_are_refused(
    aiohttp_client: Any, tmp_path: Path, database_url: str, url: str
) -> None:
    client = await app_client(aiohttp_client, tmp_path, database_url, allow_private=False)
    resp = await client.post("/api/webhooks", json={"url": url}, headers=AUTH)
    assert resp.status == 422, await resp.text()
    assert resp.content_type == "application/problem+json"
    problem = await resp.json()
    assert problem["errors"][0]["field"] == "url"
    assert "public addresses" in problem["detail"]
    assert await webhooks(client) == []


MALFORMED = [
    "http://[::1/",
    "http://[zz]/",
    "http://[v1.x]/",
    "http://[::1]:99999/",
    "http://example.org:0/",
    "http://example.org:port/",
    "http://1.2.3.4\\@127.0.0.1/",
    "http://127.1/",
    "http://2130706433/",
    "http://0x7f000001/",
    "http://a..b/",
    "http://h%00st.example/",
    "http://[fe80::1%25eth0]/",
    f"http://{'a' * 64}.example/",
    f"http://{'a.' * 130}example/",
    "http:/example.org/x",
    "https://" + "a" * 2050,  # longer than the 2048 characters a URL may have
    "https://example.org/" + "p" * 2040,
]


@pytest.mark.parametrize("allow_private", [True, False], ids=["lab", "production"])
@pytest.mark.parametrize("url", MALFORMED)
async def test_malformed_urls_are_422_on_url_and_nothing_is_stored(
    aiohttp_client: Any, tmp_path: Path, database_url: str, url: str, allow_private: bool
) -> None:
    client = await app_client(aiohttp_client, tmp_path, database_url, allow_private=allow_private)
    resp = await client.post("/api/webhooks", json={"url": url}, headers=AUTH)
    assert resp.status == 422, await resp.text()
    assert resp.content_type == "application/problem+json"
    problem = await resp.json()
    assert problem["errors"][0]["field"] == "url"
    assert problem["detail"]
    assert await webhooks(client) == []


@pytest.mark.parametrize("url", ["http://[::1/", "http://[zz]/", "http://127.1/"])
async def test_malformed_url_in_a_patch_is_422_and_changes_nothing(
    aiohttp_client: Any, tmp_path: Path, database_url: str, url: str
) -> None:
    client = await app_client(aiohttp_client, tmp_path, database_url, allow_private=True)
    good = "http://192.0.2.10/hook"
    resp = await client.post("/api/webhooks", json={"url": good}, headers=AUTH)
    assert resp.status == 201
    sub = await resp.json()
    resp = await client.patch(f"/api/webhooks/{sub['id']}", json={"url": url}, headers=AUTH)
    assert resp.status == 422, await resp.text()
    assert (await resp.json())["errors"][0]["field"] == "url"
    assert [w["url"] for w in await webhooks(client)] == [good]
