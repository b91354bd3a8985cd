"""The listening server's own limits, against ``broadcast-scheduler serve`` as a subprocess.

A stranger who opens sockets and never finishes a request head loses them
after ``http_header_timeout_seconds``; oversized heads get a 400 problem; no
response names the Python or aiohttp version.
"""

from __future__ import annotations

import http.client
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.processes import Server, env_for

HEAD_TIMEOUT = 1.0
SLOWLORIS = 50
PARTIAL_HEAD = b"GET /healthz HTTP/1.1\r\nHost: x\r\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp_path = tmp_path_factory.mktemp("limits")
    env = env_for(tmp_path, SCHEDULER_HTTP_HEADER_TIMEOUT_SECONDS=str(HEAD_TIMEOUT))
    running = Server(tmp_path, env)
    yield running
    assert running.stop() == 0


def _closed_by_peer(sock: socket.socket, deadline: float) -> bool:
    """True when the server closes ``sock`` before ``deadline`` (monotonic)."""
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            if sock.recv(4096) == b"":
                return True
        except TimeoutError:
            return False
        except ConnectionResetError:
            return True
    return False


def _get(port: int, path: str, headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", path, headers=headers or {})
    response = conn.getresponse()
    response.read()
    conn.close()
    return response


def test_unfinished_heads_are_closed_while_requests_still_work(server: Server) -> None:
    sockets = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(SLOWLORIS)]
    try:
        for sock in sockets:
            sock.sendall(PARTIAL_HEAD)
        trickler = sockets[0]
        opened = time.monotonic()
        # a byte every 0.3 s does not move the deadline
        while time.monotonic() - opened < HEAD_TIMEOUT * 0.9:
            trickler.sendall(b"X")
            time.sleep(0.3)
        assert _get(server.port, "/healthz").status == 200  # served meanwhile

        deadline = opened + HEAD_TIMEOUT + 1.0
        still_open = [s for s in sockets if not _closed_by_peer(s, deadline)]
        assert not still_open, f"{len(still_open)} of {SLOWLORIS} unfinished heads kept open"
    finally:
        for sock in sockets:
            sock.close()
    assert _get(server.port, "/healthz").status == 200


def test_idle_keep_alive_is_not_a_late_head(server: Server) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        conn.request("GET", "/healthz")
        first = conn.getresponse()
        first.read()
        assert first.status == 200
        time.sleep(HEAD_TIMEOUT * 1.5)  # idle longer than the head timeout: still open
        conn.request("GET", "/healthz")
        second = conn.getresponse()
        second.read()
        assert second.status == 200

        # the next head on the same connection has its own deadline
        assert conn.sock is not None
        sock: socket.socket = conn.sock
        sock.sendall(PARTIAL_HEAD)
        assert _closed_by_peer(sock, time.monotonic() + HEAD_TIMEOUT + 1.0)
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("head", "detail"),
    [
        (
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Long: HEADERSECRET"
            + b"a" * 20_000
            + b"\r\n\r\n",
            "too long",
        ),
        (
            b"GET /healthz?q=HEADERSECRET" + b"a" * 20_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
            "too long",
        ),
        (
            b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
            + b"".join(b"X-H%d: HEADERSECRET\r\n" % i for i in range(150))
            + b"\r\n",
            "too many headers",
        ),
    ],
    ids=["long-header", "long-request-line", "too-many-headers"],
)
def test_oversized_heads_get_a_problem_and_no_log_of_their_bytes(
    server: Server, head: bytes, detail: str
) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(head)
        response = http.client.HTTPResponse(sock)
        response.begin()
        body = json.loads(response.read())
    assert response.status == 400
    assert response.getheader("Content-Type", "").startswith("application/problem+json")
    assert response.getheader("Server") == "broadcast-scheduler"
    assert detail in body["detail"]
    assert _get(server.port, "/healthz").status == 200
    log = server.log.read_text()
    assert "HEADERSECRET" not in log
    assert "Traceback" not in log


def test_no_response_names_library_versions(server: Server) -> None:
    ok = _get(server.port, "/healthz")
    missing = _get(server.port, "/no-such-page")
    feed = _get(server.port, "/calendar.ics")
    etag = feed.getheader("ETag")
    assert etag
    revalidated = _get(server.port, "/calendar.ics", {"If-None-Match": etag})
    assert [ok.status, missing.status, feed.status, revalidated.status] == [200, 404, 200, 304]

    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        conn.request("GET", "/api/live/stream")
        stream = conn.getresponse()  # headers only: the stream stays open
        assert stream.status == 200
    finally:
        conn.close()
    for response in (ok, missing, feed, revalidated, stream):
        assert response.getheader("Server") == "broadcast-scheduler", response.status


def test_half_sent_head_does_not_hold_up_shutdown(tmp_path: Path) -> None:
    """A half-sent head does not hold up SIGTERM: the server stops and exits 0."""
    running = Server(tmp_path)  # default head timeout (10 s): still waiting at SIGTERM
    with socket.create_connection(("127.0.0.1", running.port)) as sock:
        sock.sendall(PARTIAL_HEAD)
        time.sleep(0.2)
        started = time.monotonic()
        assert running.stop() == 0
        assert time.monotonic() - started < 5
    assert "Traceback" not in running.log.read_text()
