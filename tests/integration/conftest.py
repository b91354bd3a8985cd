"""Fixtures for the end-to-end webhook tests: an app on the real clock that
delivers to receivers on loopback quickly (``tests.helpers.fast_settings``).

A test module that needs other settings overrides ``webhook_settings``;
``app_client`` then serves those.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from scheduler.config import Settings
from scheduler.http.app import create_app
from tests.helpers import Client, fast_settings


@pytest.fixture
def webhook_settings(tmp_path: Path, database_url: str) -> Settings:
    return fast_settings(tmp_path, database_url)


@pytest.fixture
async def app_client(aiohttp_client: Any, webhook_settings: Settings) -> Client:
    client: Client = await aiohttp_client(create_app(webhook_settings))
    return client
