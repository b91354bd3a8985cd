"""The listening HTTP server: what a connection may cost us before it is a request.

aiohttp's own server bounds a request line, a header field and the number of
headers, but has no timeout for reading a request head: its keep-alive timer
only runs while a connection sits idle between requests, so a client that
sends half a head and then a byte a minute keeps its socket (and a slot of the
process's file limit) forever. :class:`HeadTimeoutHandler` closes a connection
whose request head is not complete ``http_header_timeout_seconds`` after the
connection opened, or after the first byte of the next request on a kept-alive
connection. :func:`serve` runs the app behind it with every limit taken from
the settings, and stops cleanly on SIGTERM or SIGINT.

Everything the server answers says ``Server: broadcast-scheduler``, never the
Python and aiohttp versions an attacker would look up.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from typing import Any

from aiohttp import hdrs, web
from aiohttp.http_exceptions import HttpProcessingError, LineTooLong

from scheduler.config import Settings
from scheduler.http.problems import problem

logger = logging.getLogger(__name__)

SERVER_NAME = "broadcast-scheduler"
#: seconds an idle kept-alive connection stays open (aiohttp's run_app default)
KEEPALIVE_TIMEOUT = 75.0
#: seconds running requests get to finish once a stop signal arrived
SHUTDOWN_TIMEOUT = 10.0
#: gc thresholds while serving: the young generation as CPython's default, the
#: oldest collected after 50 middle collections instead of 10
GC_YOUNG, GC_MIDDLE, GC_OLD = 700, 10, 50


async def name_server(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: every response of the app, streams and 304s included."""
    response.headers[hdrs.SERVER] = SERVER_NAME


#: how often a server looks for heads past their deadline, as a share of the
#: timeout: a connection is closed at most this much of it late
SWEEPS_PER_TIMEOUT = 4


class HeadTimeoutHandler(web.RequestHandler):
    """aiohttp's connection protocol with a deadline for each request head.

    The deadline is armed when the connection opens and when bytes arrive while
    no request is being handled (the start of the next head); it is disarmed
    as soon as the parser hands over a complete head. A trickle of bytes does
    not move it. When it passes while the connection still waits for a head,
    the connection is closed without an answer, as nginx and Apache do.

    Arming notes the time; the server's sweep (:class:`HeadTimeoutServer`) finds
    the heads past their deadline, so a request costs no timer of its own.
    """

    __slots__ = ("_head_since", "_head_timeout", "_sweeper")

    def __init__(self, manager: HeadTimeoutServer, *, head_timeout: float, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._head_timeout = head_timeout
        self._head_since: float | None = None
        self._sweeper = manager

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._sweeper.watch(self)
        self._arm()

    def data_received(self, data: bytes) -> None:
        # Bytes while no request runs begin a head. (Bytes during a request are
        # its body: the request's own handler decides how long it waits.)
        if data and self._head_since is None and not self._request_in_progress:
            self._arm()
        super().data_received(data)
        if self._messages:  # the parser completed a head (or refused one)
            self._head_since = None

    def connection_lost(self, exc: BaseException | None) -> None:
        self._head_since = None
        self._sweeper.forget(self)
        super().connection_lost(exc)

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if isinstance(exc, HttpProcessingError):
            # A head the parser refused. aiohttp would log it with a traceback
            # whose message quotes the raw bytes, which can hold another
            # header's credentials, and a stranger could fill our error log
            # with them; a debug line saying what happened is enough.
            logger.debug(
                "refused a request head: %s %s",
                status,
                type(exc).__name__,
                extra={"action": "bad_request_head", "status": status},
            )
            response: web.StreamResponse = problem(status, self._head_problem(exc))
            response.force_close()  # the rest of the stream cannot be trusted
        else:
            response = super().handle_error(request, status, exc, message)
        response.headers[hdrs.SERVER] = SERVER_NAME  # these never reach on_response_prepare
        return response

    def _head_problem(self, exc: HttpProcessingError) -> str:
        if isinstance(exc, LineTooLong):
            return (
                f"a line of the request head is too long: at most {self.max_line_size} bytes "
                f"for the request line and {self.max_field_size} for a header"
            )
        if "Too many headers" in exc.message:
            return f"too many headers: at most {self.max_headers}"
        return "the request head is not valid HTTP/1.1"

    def _arm(self) -> None:
        self._head_since = self._loop.time()

    def overdue(self, now: float) -> bool:
        """Still waiting for a head whose deadline has passed."""
        return self._head_since is not None and now - self._head_since >= self._head_timeout

    def expire(self) -> None:
        self._head_since = None
        # ``_waiter`` is pending exactly while aiohttp's loop waits for a head
        waiting = self._waiter is not None and not self._waiter.done()
        if waiting and not self._messages:
            logger.debug("closed a connection that sent no request head in time")
            self.force_close()


class HeadTimeoutServer(web.Server):
    """aiohttp's protocol factory, making :class:`HeadTimeoutHandler` connections,
    and every ``head_timeout / SWEEPS_PER_TIMEOUT`` seconds closing those whose
    head is overdue."""

    def __init__(
        self,
        handler: Any,
        *,
        request_factory: Any,
        handler_cancellation: bool,
        loop: asyncio.AbstractEventLoop,
        head_timeout: float,
        **options: Any,
    ) -> None:
        super().__init__(
            handler,
            request_factory=request_factory,
            handler_cancellation=handler_cancellation,
            loop=loop,
            **options,
        )
        self._options = options
        self._head_timeout = head_timeout
        self._watched: set[HeadTimeoutHandler] = set()
        self._sweep_handle: asyncio.TimerHandle | None = None

    def __call__(self) -> web.RequestHandler:
        return HeadTimeoutHandler(
            self, loop=self._loop, head_timeout=self._head_timeout, **self._options
        )

    def watch(self, connection: HeadTimeoutHandler) -> None:
        self._watched.add(connection)
        if self._sweep_handle is None:
            self._schedule_sweep()

    def forget(self, connection: HeadTimeoutHandler) -> None:
        self._watched.discard(connection)

    def _schedule_sweep(self) -> None:
        period = self._head_timeout / SWEEPS_PER_TIMEOUT
        self._sweep_handle = self._loop.call_later(period, self._sweep)

    def _sweep(self) -> None:
        now = self._loop.time()
        for connection in [c for c in self._watched if c.overdue(now)]:
            connection.expire()
        if self._watched:
            self._schedule_sweep()
        else:
            self._sweep_handle = None  # the next connection starts it again

    async def shutdown(self, timeout: float | None = None) -> None:  # noqa: ASYNC109 (aiohttp's)
        if self._sweep_handle is not None:
            self._sweep_handle.cancel()
            self._sweep_handle = None
        await super().shutdown(timeout)


def handler_options(settings: Settings) -> dict[str, Any]:
    """The connection limits, explicit rather than whatever aiohttp defaults to."""
    return {
        "keepalive_timeout": KEEPALIVE_TIMEOUT,
        "max_line_size": settings.http_max_line_size,
        "max_field_size": settings.http_max_field_size,
        "max_headers": settings.http_max_headers,
        "access_log": None,  # scheduler.http.observe logs every request, without secrets
    }


class ServiceRunner(web.AppRunner):
    """An AppRunner whose server closes connections that dawdle over a request head."""

    def __init__(self, app: web.Application, settings: Settings) -> None:
        super().__init__(app, shutdown_timeout=SHUTDOWN_TIMEOUT)
        self._settings = settings

    async def _make_server(self) -> web.Server:
        # aiohttp's own _make_server starts the app and builds its Server; we keep
        # its request handler and factory and give them our protocol instead.
        plain = await super()._make_server()
        return HeadTimeoutServer(
            plain.request_handler,
            request_factory=plain.request_factory,
            handler_cancellation=plain.handler_cancellation,
            loop=asyncio.get_running_loop(),
            head_timeout=self._settings.http_header_timeout_seconds,
            **handler_options(self._settings),
        )


async def serve(app: web.Application, settings: Settings) -> None:
    """Serve ``app`` on the configured address until SIGTERM or SIGINT."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    signals = (signal.SIGTERM, signal.SIGINT)
    for sig in signals:  # before start-up, so an early signal still stops cleanly
        loop.add_signal_handler(sig, stop.set)
    runner = ServiceRunner(app, settings)
    try:
        await runner.setup()
        await web.TCPSite(runner, settings.host, settings.port).start()
        # What start-up built (modules, the app, caches) lives as long as the
        # process: frozen, full collections stop walking it, and the collector
        # runs its oldest generation less often. With 10,000 open streams a full
        # collection paused a broadcast by ~0.8 s.
        gc.freeze()
        gc.set_threshold(GC_YOUNG, GC_MIDDLE, GC_OLD)
        logger.info(
            "listening on http://%s:%d", settings.host, settings.port, extra={"action": "startup"}
        )
        await stop.wait()
    finally:
        await runner.cleanup()  # stops listening, lets requests finish, runs cleanup_ctx
        for sig in signals:
            loop.remove_signal_handler(sig)
        logger.info("stopped", extra={"action": "shutdown"})
