"""The application factory: settings in, a ready aiohttp app out.

Each resource lives in its own ``cleanup_ctx``: the database and the services
built on it, then the webhook client and the dispatcher. A database that is
not reachable at start does not stop the server: it serves ``/healthz`` and
answers 503 on ``/readyz`` and ``/status`` while it retries with backoff, then
migrates and starts dispatching.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import timedelta

import aiohttp_jinja2
from aiohttp import web

from scheduler.auth import load_or_create_tokens
from scheduler.config import Settings
from scheduler.exceptions import StoreUnavailable
from scheduler.http import (
    calendar,
    events,
    imports,
    live,
    openapi,
    pages,
    series,
    service,
    webhooks,
)
from scheduler.http.keys import (
    API_TOKENS,
    ASSETS,
    BUS,
    CLOCK,
    DATABASE,
    DISPATCHER,
    EVENTS,
    FEEDS,
    HEALTH,
    IMPORTS,
    LIVE,
    METRICS,
    PAGES,
    PAUSES,
    PUBLIC_PAGES,
    SERIES,
    SETTINGS,
    STATUS,
    WEBHOOKS,
)
from scheduler.http.observe import front_middleware
from scheduler.http.server import name_server
from scheduler.metrics import Metrics
from scheduler.reminders.dispatch import Dispatcher
from scheduler.services.bus import ChangeBus
from scheduler.services.event_pages import EventPages
from scheduler.services.events import EventService
from scheduler.services.feeds import FeedService
from scheduler.services.health import HealthService
from scheduler.services.imports import ImportService
from scheduler.services.live import LiveHub
from scheduler.services.public_pages import PublicPages
from scheduler.services.routing import route
from scheduler.services.series import SeriesService
from scheduler.services.series_extension import SeriesExtension
from scheduler.services.series_pauses import SeriesPauses
from scheduler.services.status_view import RELOAD_SECONDS as STATUS_RELOAD_SECONDS
from scheduler.services.status_view import StatusView
from scheduler.services.webhooks import WebhookService
from scheduler.store.changes import this_process
from scheduler.store.clock import DatabaseClock
from scheduler.store.database import Database
from scheduler.timezones import Clock, system_clock
from scheduler.web.assets import Assets
from scheduler.web.templates import environment_options
from scheduler.webhooks.delivery import WebhookClient

logger = logging.getLogger(__name__)

# Waiting for a database at start: first retry after this, doubling up to the cap.
DB_RETRY_FIRST = 0.5
DB_RETRY_MAX = 10.0


async def _database_ctx(app: web.Application) -> AsyncIterator[None]:
    settings, clock = app[SETTINGS], app[CLOCK]
    db = Database(settings.effective_database_url, pool_size=settings.database_pool_size)
    if isinstance(clock, DatabaseClock):
        clock.attach(db)
    app[DATABASE] = db
    app[BUS] = ChangeBus(db, this_process(settings.replica_id))
    app[EVENTS] = EventService(db, settings, clock)
    app[SERIES] = SeriesService(app[EVENTS])
    app[IMPORTS] = ImportService(app[EVENTS], settings, clock, app[SERIES])
    app[PAUSES] = SeriesPauses(app[SERIES])
    app[FEEDS] = FeedService(db, settings, clock, app[METRICS])
    claim_ahead = timedelta(seconds=settings.scheduler_horizon_seconds)
    app[PAGES] = EventPages(app[EVENTS], clock, claim_ahead=claim_ahead)
    templates = aiohttp_jinja2.get_env(app)
    app[PUBLIC_PAGES] = PublicPages(
        app[EVENTS],
        settings,
        clock,
        lambda name, context: templates.get_template(name).render(context),
        app[ASSETS],
        series=app[SERIES],
    )
    yield
    await app[BUS].stop()
    await db.dispose()


async def _live_ctx(app: web.Application) -> AsyncIterator[None]:
    app[LIVE] = LiveHub()
    app[STATUS] = StatusView(app[DATABASE], app[CLOCK])
    yield
    app[LIVE].close_all()


async def _keep_status_view(view: StatusView, stop: asyncio.Event) -> None:
    """Load the status view, and again as time moves events into its window,
    until ``stop`` is set (a cancellation alone can be swallowed by a database
    driver closing a connection, and this loop sleeps for minutes)."""
    while not stop.is_set():
        pause = STATUS_RELOAD_SECONDS
        try:
            await view.reload()
        except Exception as err:
            logger.warning(
                "loading the status view failed (%s); retrying", err, extra={"action": "live"}
            )
            pause = DB_RETRY_FIRST
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), pause)


async def _keep_series_extended(
    service: SeriesExtension, period: float, stop: asyncio.Event
) -> None:
    """Extend every series as time passes, at start and every ``period`` seconds,
    until ``stop`` is set. Replicas may all do it: the store skips occurrences
    another one stored first."""
    while not stop.is_set():
        try:
            added = await service.extend_due()
            if added:
                logger.info("series extended: %d occurrences", added, extra={"action": "series"})
        except Exception:
            logger.exception("extending series failed", extra={"action": "series"})
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), period)


async def _upgrade_when_reachable(db: Database) -> None:
    delay = DB_RETRY_FIRST
    while True:
        try:
            await db.upgrade()
            logger.info("database ready (%s)", db.dialect, extra={"action": "startup"})
            return
        except StoreUnavailable as err:
            logger.warning(
                "database not reachable (%s); retrying in %.1f s",
                err.message,
                delay,
                extra={"action": "startup"},
            )
        await asyncio.sleep(delay)
        delay = min(delay * 2, DB_RETRY_MAX)


async def _dispatch_ctx(app: web.Application) -> AsyncIterator[None]:
    """The webhook client and the dispatcher that fires triggers through it."""
    settings, clock, db = app[SETTINGS], app[CLOCK], app[DATABASE]
    client = WebhookClient(settings)
    await client.start()
    sync = clock.sync if isinstance(clock, DatabaseClock) else None
    dispatcher = Dispatcher(db, settings, clock, client, app[METRICS], clock_sync=sync)
    app[DISPATCHER] = dispatcher
    app[WEBHOOKS] = WebhookService(db, settings, clock, dispatcher)
    app[HEALTH] = HealthService(db, settings, clock, dispatcher, app[METRICS])
    # who hears which change: scheduler.services.routing
    route(
        app[BUS],
        clock=clock,
        events=app[EVENTS],
        webhooks=app[WEBHOOKS],
        feeds=app[FEEDS],
        pages=app[PAGES],
        public_pages=app[PUBLIC_PAGES],
        live=app[LIVE],
        status=app[STATUS],
        dispatcher=dispatcher,
    )

    async def begin() -> None:
        if sync is not None:
            await sync()
        await app[BUS].start()
        keeping.append(
            asyncio.get_running_loop().create_task(_keep_status_view(app[STATUS], stopping))
        )
        keeping.append(
            asyncio.get_running_loop().create_task(
                _keep_series_extended(
                    SeriesExtension(app[SERIES]), settings.series_extend_seconds, stopping
                )
            )
        )
        await dispatcher.start()  # a second dispatcher on one SQLite file stops here

    waiting: asyncio.Task[None] | None = None
    keeping: list[asyncio.Task[None]] = []
    stopping = asyncio.Event()
    try:
        try:
            await db.upgrade()
        except StoreUnavailable as err:
            logger.error(
                "starting without a database (%s): serving 503 until it answers",
                err.message,
                extra={"action": "startup"},
            )

            async def start_later() -> None:
                await _upgrade_when_reachable(db)
                await begin()

            waiting = asyncio.get_running_loop().create_task(start_later())
        else:
            logger.info("database ready (%s)", db.dialect, extra={"action": "startup"})
            await begin()
        yield
    finally:
        # creates still queued (their requests outlived the shutdown grace) are
        # stored and heard by the dispatcher before it stops; later ones get a 503
        await app[EVENTS].close()
        if waiting is not None:
            waiting.cancel()
            await asyncio.wait({waiting}, timeout=DB_RETRY_MAX)
        stopping.set()  # a reload under way ends on its own: cancelling it inside a
        # transaction would leave its connection unusable
        if keeping:
            _done, late = await asyncio.wait(keeping, timeout=DB_RETRY_MAX)
            for task in late:
                task.cancel()
        await dispatcher.stop()
        await client.close()


def create_app(
    settings: Settings, *, clock: Clock | None = None, metrics: Metrics | None = None
) -> web.Application:
    """Build the service's aiohttp application."""
    app = web.Application(
        client_max_size=settings.max_body_bytes,
        middlewares=[front_middleware],
    )
    app[SETTINGS] = settings
    if clock is None:
        offset = timedelta(seconds=settings.debug_clock_offset_seconds)
        own: Clock = (lambda: system_clock() + offset) if offset else system_clock
        clock = DatabaseClock(own)  # corrected to the database server's clock
    app[CLOCK] = clock
    app[METRICS] = metrics or Metrics()
    app[API_TOKENS] = load_or_create_tokens(settings)
    app[ASSETS] = Assets()
    # the public pages' templates (scheduler/web/templates), autoescaped
    aiohttp_jinja2.setup(app, default_helpers=False, **environment_options())
    app.cleanup_ctx.append(_database_ctx)
    app.cleanup_ctx.append(_live_ctx)
    app.cleanup_ctx.append(_dispatch_ctx)

    async def close_streams(app: web.Application) -> None:
        app[LIVE].close_all()  # SSE handlers return, so shutdown does not wait on them

    app.on_shutdown.append(close_streams)
    app.on_response_prepare.append(name_server)  # no library versions on any response
    # pages last: /events/{id} must not take /events/{id}.ics from the calendar routes
    for module in (events, series, imports, live, webhooks, calendar, service, openapi, pages):
        app.add_routes(module.routes)
    return app
