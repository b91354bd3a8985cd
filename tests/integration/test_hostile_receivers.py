"""Hostile webhook receivers beside a good one: every bad answer is a recorded failure.

A raw asyncio server on 127.0.0.1 plays one hostile receiver per path: it never
answers, trickles its headers, streams an endless body or endless ``102``
answers, redirects, sends a megabyte header or ten thousand headers, a reason
phrase of 5,000 characters, binary garbage, a compressed bomb, drops the
connection before, during or after its headers, resets it, speaks another
protocol, or sends ``Retry-After`` in every odd form. An event's notice goes to
all of them and to a good receiver (``tests.receiver``, which verifies
signatures with ``standardwebhooks``).

Each hostile delivery must end as a failed attempt in the delivery log with a
readable error, never stuck ``delivering`` (and a ping to it must answer, not
500); the good receiver must get its messages less than 100 ms after they are
due, including one that falls due while the hostile attempts are still hanging.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from scheduler.config import Settings
from scheduler.http.app import create_app
from tests.conftest import AUTH
from tests.helpers import create_event, fast_settings, local_in
from tests.receiver import Receiver

Client = TestClient[Any, Any]
TIMEOUT = 2.0  # webhook_timeout_seconds
EXCERPT = 1024  # webhook_response_excerpt_bytes
Writer = asyncio.StreamWriter
Behaviour = Callable[[asyncio.StreamReader, Writer], Awaitable[None]]

# Every odd Retry-After we could think of, on 429 and 503 answers.
RETRY_AFTER: dict[str, bytes] = {
    "superscript-two": "²".encode(),
    "arabic-indic-three": "٣".encode(),
    "fullwidth-five": "\uff15".encode(),
    "exponent": b"1e400",
    "negative": b"-5",
    "fraction": b"1.5",
    "nan": b"nan",
    "infinity": b"inf",
    "hex": b"0x10",
    "padded": b"   3   ",
    "empty": b"",
    "huge-number": b"9" * 5000,
    "year-99999999999": b"Sat, 01 Jan 99999999999 00:00:00 GMT",
    "year-9999": b"Fri, 31 Dec 9999 23:59:59 GMT",
    "year-1900": b"Mon, 01 Jan 1900 00:00:00 GMT",
    "offset-2400": b"Sun, 06 Nov 1994 08:49:37 +2400",
    "hour-99": b"1 Jan 2000 99:99:99 GMT",
    "not-utf8": b"\xff\xfe\xfd",
    "two-values": b"3, 4",
}


@dataclass
class Hostile:
    """A raw HTTP/1.1 server on 127.0.0.1 that misbehaves in a way chosen by path."""

    port: int = 0
    requests: dict[str, int] = field(default_factory=dict)
    written: dict[str, int] = field(default_factory=dict)  # bytes sent per path
    _server: asyncio.Server | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: Writer) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            path = head.split(b" ", 2)[1].decode().lstrip("/")
            length = next(
                (
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                ),
                0,
            )
            await reader.readexactly(length)
            self.requests[path] = self.requests.get(path, 0) + 1
            await self._behaviour(path)(reader, _Counting(writer, self.written, path))
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            self._tasks.discard(task)
            writer.close()

    def _behaviour(self, path: str) -> Behaviour:
        if path.startswith("retry-after/"):
            status = b"429 Too Many Requests" if path.endswith("-429") else b"503 Busy"
            value = RETRY_AFTER[path.split("/")[1].removesuffix("-429")]
            return _answer(b"HTTP/1.1 " + status + b"\r\nRetry-After: " + value + _EMPTY)
        return BEHAVIOURS[path]


class _Counting:
    """A writer that counts what the server managed to send."""

    def __init__(self, writer: Writer, counts: dict[str, int], path: str) -> None:
        self.writer, self.counts, self.path = writer, counts, path

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()
        self.counts[self.path] = self.counts.get(self.path, 0) + len(data)

    def reset(self) -> None:
        sock = self.writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.writer.transport.abort()


# one answer per connection, said so (a receiver that drops a kept-alive
# connection without saying is a hostile behaviour of its own)
_EMPTY = b"\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"


def _answer(data: bytes) -> Behaviour:
    async def behave(reader: asyncio.StreamReader, writer: Any) -> None:
        await writer.send(data)

    return behave


async def _silent(reader: asyncio.StreamReader, writer: Any) -> None:
    await reader.read()


async def _trickle_headers(reader: asyncio.StreamReader, writer: Any) -> None:
    await writer.send(b"HTTP/1.1 200 OK\r\nX-Slow: ")
    while True:
        await asyncio.sleep(0.1)
        await writer.send(b"z")


async def _endless_body(reader: asyncio.StreamReader, writer: Any) -> None:
    await writer.send(b"HTTP/1.1 500 Oops\r\nTransfer-Encoding: chunked\r\n\r\n")
    chunk = b"%x\r\n%s\r\n" % (65536, b"x" * 65536)
    while True:
        await writer.send(chunk)


async def _endless_processing(reader: asyncio.StreamReader, writer: Any) -> None:
    while True:
        await writer.send(b"HTTP/1.1 102 Processing\r\n\r\n")
        await asyncio.sleep(0.05)


async def _reset(reader: asyncio.StreamReader, writer: Any) -> None:
    writer.reset()


def _bomb() -> bytes:
    squeeze = zlib.compressobj(9, zlib.DEFLATED, 31)  # gzip
    return squeeze.compress(b"\0" * (64 << 20)) + squeeze.flush()


BOMB = _bomb()
BINARY = b"\x00\xff\xfe\x80binary\x00\x1b[31m\xed\xa0\x80" * 200

BEHAVIOURS: dict[str, Behaviour] = {
    "silent": _silent,
    "trickle-headers": _trickle_headers,
    "endless-body": _endless_body,
    "endless-102": _endless_processing,
    "redirect": lambda r, w: _answer(
        b"HTTP/1.1 302 Found\r\nLocation: " + GOOD_URL[0].encode() + _EMPTY
    )(r, w),
    "huge-header": _answer(b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * (1 << 20) + _EMPTY),
    "many-headers": _answer(
        b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(10_000)) + _EMPTY[2:]
    ),
    "long-reason": _answer(b"HTTP/1.1 500 " + b"r" * 5000 + _EMPTY),
    "binary-body": _answer(
        b"HTTP/1.1 500 Oops\r\nConnection: close\r\nContent-Type: application/octet-stream\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(BINARY), BINARY)
    ),
    "gzip-bomb": _answer(
        b"HTTP/1.1 500 Oops\r\nConnection: close\r\nContent-Encoding: gzip\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(BOMB), BOMB)
    ),
    "close-at-once": _answer(b""),
    "close-mid-headers": _answer(b"HTTP/1.1 200 OK\r\nContent-Le"),
    "close-mid-body": _answer(b"HTTP/1.1 503 Busy\r\nContent-Length: 1000\r\n\r\npartial"),
    "reset": _reset,
    "not-http": _answer(b"SSH-2.0-OpenSSH_9.6\r\n\r\n"),
}
GOOD_URL = [""]  # where the redirect points: the good receiver, which must not get it


def hostile_paths() -> list[str]:
    forms = [f"retry-after/{name}" for name in RETRY_AFTER]
    return [*BEHAVIOURS, *forms, *(f"{form}-429" for form in forms[:4])]


def hostile_settings(tmp_path: Path, database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "webhook_timeout_seconds": TIMEOUT,
        "webhook_response_excerpt_bytes": EXCERPT,
        "webhook_retry_schedule": (60,),  # one attempt each within the test
        **overrides,
    }
    return fast_settings(tmp_path, database_url, **values)


@pytest.fixture
async def hostile() -> Any:
    server = Hostile()
    await server.start()
    yield server
    await server.stop()


async def subscribe(client: Client, url: str) -> dict[str, Any]:
    resp = await client.post(
        "/api/webhooks", json={"url": url, "types": ["event.started"]}, headers=AUTH
    )
    assert resp.status == 201, await resp.text()
    sub: dict[str, Any] = await resp.json()
    return sub


async def start_event(client: Client, seconds: float) -> dict[str, Any]:
    return await create_event(client, start=local_in(seconds), end=local_in(seconds + 3600))


async def settled_log(client: Client, sub_id: str, count: int, deadline: float) -> list[Any]:
    """The webhook's deliveries once ``count`` exist and none is mid-attempt (or the
    deadline has passed: the caller's assertions then say what is stuck)."""
    loop = asyncio.get_running_loop()
    while True:
        resp = await client.get(f"/api/webhooks/{sub_id}/deliveries", headers=AUTH)
        items: list[Any] = (await resp.json())["items"]
        done = [d for d in items if d["state"] != "delivering" and d["attempts"] >= 1]
        if len(done) >= count or loop.time() > deadline:
            return items
        await asyncio.sleep(0.1)


def assert_readable(text: str | None, what: str) -> None:
    assert text, f"{what}: no error recorded"
    assert len(text) <= 500, what
    assert not any(ord(c) < 32 or 0x7F <= ord(c) < 0xA0 for c in text), (what, text)


EXPECTED_STATUS = {
    "redirect": 302,
    "long-reason": 500,
    "binary-body": 500,
    "gzip-bomb": 500,
    "endless-body": 500,
    "close-mid-body": 503,
}
EXPECTED_WORDS = {
    "silent": f"no answer within {TIMEOUT:g} s",
    "trickle-headers": f"no answer within {TIMEOUT:g} s",
    "endless-102": f"no answer within {TIMEOUT:g} s",
    "redirect": "redirects are not followed",
    "huge-header": "unreadable response",
    "many-headers": "unreadable response",
    "not-http": "unreadable response",
}


async def test_hostile_receivers_fail_cleanly_beside_a_good_one_on_time(
    aiohttp_client: Any, tmp_path: Path, database_url: str, hostile: Hostile, receiver: Receiver
) -> None:
    GOOD_URL[0] = receiver.url
    client: Client = await aiohttp_client(create_app(hostile_settings(tmp_path, database_url)))
    good = await subscribe(client, receiver.url)
    receiver.secrets.append(good["secret"])
    subs = {path: await subscribe(client, hostile.url(path)) for path in hostile_paths()}

    first = await start_event(client, 3)
    # due while the first round's silent receivers still hold their connections
    second = await start_event(client, 4)
    await receiver.wait_for(2, timeout=10)
    assert all(got.verified for got in receiver.received)
    lateness = {r.body["data"]["event"]["id"]: r.lateness() for r in receiver.received}
    # The first burst opens every connection; it comes ~0.1-0.2 s late with some
    # 40 webhooks whether they are hostile or not (measured with 24 good ones),
    # which is the dispatcher's first-burst cost, not the receivers' doing.
    assert 0 <= lateness[first["id"]] < 0.5, lateness
    # The second falls due while the first round's hostile attempts still hang.
    assert 0 <= lateness[second["id"]] < 0.1, lateness
    assert {r.body["data"]["event"]["id"] for r in receiver.received} == {
        first["id"],
        second["id"],
    }

    # outcomes are written once the burst is out; on a loaded CI machine that took > 4 s once
    deadline = asyncio.get_running_loop().time() + TIMEOUT + 10
    for path, sub in subs.items():
        log = await settled_log(client, sub["id"], 2, deadline)
        assert len(log) == 2, (path, log)
        for delivery in log:
            assert delivery["state"] == "pending", (path, delivery)  # retried later
            [attempt] = delivery["attempt_log"]
            assert_readable(attempt["error"], path)
            assert delivery["last_error"] == attempt["error"]
            assert attempt["latency_ms"] < (TIMEOUT + 0.5) * 1000, (path, attempt)
            if path in EXPECTED_STATUS:
                assert attempt["status"] == EXPECTED_STATUS[path], (path, attempt)
            if path in EXPECTED_WORDS:
                assert EXPECTED_WORDS[path] in attempt["error"], (path, attempt)
            if path.startswith("retry-after/"):
                assert attempt["status"] in (429, 503), (path, attempt)
                retry_at = datetime.fromisoformat(delivery["next_attempt_at"])
                # never parked for more than a day, never sooner than the schedule
                assert retry_at - datetime.now(UTC) < timedelta(days=1, minutes=1), path
                assert retry_at - datetime.now(UTC) > timedelta(seconds=50), path
            excerpt = attempt["response_excerpt"]
            if excerpt is not None:
                assert len(excerpt) <= EXCERPT, path
                assert "\x00" not in excerpt, path

    assert "\ufffd" in subs_excerpt(await log_of(client, subs["binary-body"]))
    assert len(subs_excerpt(await log_of(client, subs["endless-body"]))) <= EXCERPT
    # the endless body was cut off: what the server got out is what fits in
    # the socket buffers, not what it would have sent in two seconds
    assert hostile.written.get("endless-body", 0) < 32 << 20
    assert "r" * 400 not in (await log_of(client, subs["long-reason"]))["last_error"]
    # the redirect was not followed to the good receiver
    assert len(receiver.received) == 2

    # a ping to each hostile receiver answers with its failed attempt
    async def ping(sub: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        resp = await client.post(f"/api/webhooks/{sub['id']}/ping", headers=AUTH)
        return resp.status, await resp.json()

    answers = await asyncio.gather(*(ping(sub) for sub in subs.values()))
    for path, (status, delivery) in zip(subs, answers, strict=True):
        assert status == 200, (path, delivery)
        assert delivery["state"] == "pending", (path, delivery)
        assert_readable(delivery["attempt_log"][0]["error"], path)


async def log_of(client: Client, sub: dict[str, Any]) -> dict[str, Any]:
    resp = await client.get(f"/api/webhooks/{sub['id']}/deliveries", headers=AUTH)
    newest: dict[str, Any] = (await resp.json())["items"][0]
    return newest


def subs_excerpt(delivery: dict[str, Any]) -> str:
    excerpt: str = delivery["attempt_log"][0]["response_excerpt"] or ""
    return excerpt


async def test_retries_keep_their_schedule_while_a_receiver_hangs(
    aiohttp_client: Any, tmp_path: Path, database_url: str, hostile: Hostile, receiver: Receiver
) -> None:
    """A receiver that fails once is retried 1 s later (the schedule) even while
    another receiver holds its attempt open until the timeout."""
    settings = hostile_settings(tmp_path, database_url, webhook_retry_schedule=(1, 1))
    client: Client = await aiohttp_client(create_app(settings))
    flaky = await subscribe(client, receiver.url)
    receiver.secrets.append(flaky["secret"])
    receiver.answers.extend([500, 200])
    for path in ("silent", "trickle-headers"):
        await subscribe(client, hostile.url(path))

    await start_event(client, 2)
    await receiver.wait_for(2, timeout=10)
    first, second = receiver.received[:2]
    assert [first.answered, second.answered] == [500, 200]
    assert first.webhook_id == second.webhook_id
    assert 0 <= first.lateness() < 0.1
    gap = (second.received_at - first.received_at).total_seconds()
    assert 1.0 <= gap < 1.1 + 0.3, gap  # schedule 1 s + up to 10 % jitter + bookkeeping
    with contextlib.suppress(AssertionError):
        await receiver.wait_for(3, timeout=0.5)
    assert len(receiver.received) == 2
