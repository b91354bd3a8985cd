"""A real webhook receiver: an aiohttp server on 127.0.0.1 that verifies every request.

Verification uses ``standardwebhooks.Webhook(secret).verify`` and nothing else,
as an integrator would. Tests script its answers (status codes, delays) and
read what it received, with the wall-clock time of arrival.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from standardwebhooks import Webhook, WebhookVerificationError


@dataclass
class Received:
    webhook_id: str
    headers: dict[str, str]
    body: dict[str, Any]
    received_at: datetime
    verified: bool
    answered: int

    @property
    def type(self) -> str:
        """The Standard Webhooks type (a chat-format body has none of its own)."""
        return str(self.body.get("type", "chat"))

    def lateness(self) -> float:
        """Seconds between the payload's ``scheduled_for`` and arrival."""
        scheduled = datetime.fromisoformat(
            self.body["data"]["scheduled_for"].replace("Z", "+00:00")
        )
        return (self.received_at - scheduled).total_seconds()


@dataclass
class Receiver:
    secrets: list[str] = field(default_factory=list)
    answers: deque[int | tuple[int, dict[str, str]]] = field(default_factory=deque)
    delay: float = 0.0
    received: list[Received] = field(default_factory=list)
    port: int = 0
    _runner: web.AppRunner | None = None
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.text()
        arrived = datetime.now(UTC)
        headers = dict(request.headers)
        verified = False
        for secret in self.secrets:
            try:
                Webhook(secret).verify(raw, headers)
                verified = True
            except WebhookVerificationError:
                continue
        if self.delay:
            await asyncio.sleep(self.delay)
        answer = self.answers.popleft() if self.answers else 200
        status, extra = answer if isinstance(answer, tuple) else (answer, {})
        self.received.append(
            Received(headers["webhook-id"], headers, json.loads(raw), arrived, verified, status)
        )
        self._arrived.set()
        return web.Response(status=status, text="ok" if status < 300 else "nope", headers=extra)

    async def start(self, port: int = 0) -> None:
        app = web.Application()
        app.router.add_post("/hook", self.handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def of_type(self, type_: str) -> list[Received]:
        return [r for r in self.received if r.type == type_]

    async def wait_for(self, count: int, *, type_: str | None = None, timeout: float = 10) -> None:
        """Wait until ``count`` requests (of ``type_``) have arrived."""
        deadline = time.monotonic() + timeout
        while True:
            have = len(self.of_type(type_)) if type_ else len(self.received)
            if have >= count:
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                seen = [(r.type, r.answered) for r in self.received]
                raise AssertionError(f"expected {count} {type_ or 'requests'}, got {seen}")
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), remaining)


def same_message(body: dict[str, Any]) -> str:
    """A body without what a late resend restamps (``timestamp`` and
    ``late_by_seconds``): repeats of one message compare equal."""
    data = {k: v for k, v in body.get("data", {}).items() if k != "late_by_seconds"}
    return json.dumps({**body, "timestamp": None, "data": data}, sort_keys=True)
