"""A minimal Server-Sent-Events reader over a real aiohttp client connection."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

import aiohttp


@dataclass
class SSEMessage:
    id: str | None
    event: str
    data: Any
    retry: int | None


@dataclass
class SSEReader:
    response: aiohttp.ClientResponse
    comments: list[str] = field(default_factory=list)
    last_id: str | None = None

    @classmethod
    async def open(
        cls, session: aiohttp.ClientSession, url: str, *, last_event_id: str | None = None
    ) -> SSEReader:
        headers = {"Accept": "text/event-stream"}
        if last_event_id:
            headers["Last-Event-ID"] = last_event_id
        resp = await session.get(url, headers=headers, timeout=aiohttp.ClientTimeout(total=None))
        assert resp.status == 200, await resp.text()
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        return cls(resp)

    async def next(self, timeout: float = 5.0) -> SSEMessage:
        """The next message (comments are collected on the side)."""
        fields: dict[str, str] = {}
        data: list[str] = []
        async with asyncio.timeout(timeout):
            while True:
                raw = await self.response.content.readline()
                if not raw:
                    raise ConnectionError("stream closed")
                line = raw.decode().rstrip("\r\n")
                if not line:
                    if data or fields:
                        break
                    continue
                if line.startswith(":"):
                    self.comments.append(line[1:].strip())
                    continue
                name, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if name == "data":
                    data.append(value)
                else:
                    fields[name] = value
        message = SSEMessage(
            fields.get("id"),
            fields.get("event", "message"),
            json.loads("\n".join(data)) if data else None,
            int(fields["retry"]) if "retry" in fields else None,
        )
        if message.id:
            self.last_id = message.id
        return message

    async def wait_comment(self, timeout: float = 5.0) -> str:
        before = len(self.comments)
        async with asyncio.timeout(timeout):
            while len(self.comments) == before:
                raw = await self.response.content.readline()
                line = raw.decode().rstrip("\r\n")
                if line.startswith(":"):
                    self.comments.append(line[1:].strip())
        return self.comments[-1]

    def close(self) -> None:
        self.response.close()
