"""Minimal Server-Sent-Events clients: a reader over a real aiohttp connection, and raw sockets."""

from __future__ import annotations

import asyncio
import json
import socket
import struct
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer


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


@dataclass
class RawStream:
    """An SSE request on a bare socket, for clients that vanish without any courtesy."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    status: int
    head: str
    first: str  # the first message as sent (inside its chunk), for a 200

    @classmethod
    async def open(
        cls, host: str, port: int, path: str, *, headers: dict[str, str] | None = None
    ) -> RawStream:
        """Send the request and read the response head (and, for a 200, the first message)."""
        reader, writer = await asyncio.open_connection(host, port)
        lines = [f"GET {path} HTTP/1.1", f"Host: {host}:{port}", "Accept: text/event-stream"]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        async with asyncio.timeout(5):
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
            status = int(head.split(" ", 2)[1])
            first = ""
            if status == 200:  # the snapshot: the stream is subscribed by now
                first = (await reader.readuntil(b"\r\n\r\n")).decode()
        return cls(reader, writer, status, head, first)

    def drop(self, *, reset: bool) -> None:
        """Vanish: with ``reset`` the kernel sends RST (SO_LINGER 0), else a bare FIN."""
        if reset:
            sock = self.writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.writer.transport.abort()


class ServeLikeServer(TestServer):
    """A test server that treats a vanished client the way ``serve`` (``web.run_app``) does.

    aiohttp's ``TestServer`` cancels a handler as soon as its client disconnects;
    ``run_app`` does not (``handler_cancellation=False``), so a stream handler
    must notice a gone client itself. Tests of that must run without the help.
    """

    async def _make_runner(self, **kwargs: Any) -> web.AppRunner:
        kwargs["handler_cancellation"] = False
        return web.AppRunner(self.app, **kwargs)
