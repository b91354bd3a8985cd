"""The fuzzed app runs behind the service's own HTTP server (limits, head timeout).

aiohttp's plain test server answers an oversized request line with its own
text/plain 400; ``serve`` answers problem+json. The fuzzers must see what a
client of the real service sees, so their apps run in :class:`ServiceRunner`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from scheduler.config import Settings
from scheduler.http.app import create_app
from scheduler.http.server import ServiceRunner
from tests.conftest import FakeClock, make_settings


class ServiceTestServer(TestServer):
    def __init__(self, app: web.Application, settings: Settings) -> None:
        super().__init__(app, host="127.0.0.1")
        self._settings = settings

    async def _make_runner(self, **kwargs: Any) -> web.AppRunner:
        return ServiceRunner(self.app, self._settings)


async def _client(aiohttp_client: Any, settings: Settings, clock: FakeClock) -> Any:
    app = create_app(settings, clock=clock)
    return await aiohttp_client(ServiceTestServer(app, settings))


@pytest.fixture
async def client(aiohttp_client: Any, settings: Settings, clock: FakeClock) -> TestClient[Any, Any]:
    result: TestClient[Any, Any] = await _client(aiohttp_client, settings, clock)
    return result


@pytest.fixture
async def hooks_client(
    aiohttp_client: Any, tmp_path: Path, database_url: str, clock: FakeClock
) -> TestClient[Any, Any]:
    """An app that takes any well-formed webhook URL without resolving it."""
    settings = make_settings(tmp_path, database_url, allow_private_webhook_targets=True)
    result: TestClient[Any, Any] = await _client(aiohttp_client, settings, clock)
    return result
