"""The application factory: settings in, a ready aiohttp app out.

Each resource lives in its own ``cleanup_ctx`` (the database and the services
built on it); routes come from one table per resource.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiohttp import web

from scheduler.auth import load_or_create_tokens
from scheduler.config import Settings
from scheduler.http import calendar, events, openapi, service, webhooks
from scheduler.http.auth import auth_middleware
from scheduler.http.keys import (
    API_TOKENS,
    CLOCK,
    DATABASE,
    DISPATCHER,
    EVENTS,
    FEEDS,
    SETTINGS,
    WEBHOOKS,
)
from scheduler.http.problems import error_middleware
from scheduler.reminders.dispatch import Dispatcher
from scheduler.services.events import EventChange, EventService
from scheduler.services.feeds import FeedService
from scheduler.services.webhooks import WebhookService
from scheduler.store.database import Database
from scheduler.timezones import Clock, system_clock
from scheduler.webhooks.delivery import WebhookClient

logger = logging.getLogger(__name__)


async def _database_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    db = Database(settings.effective_database_url, pool_size=settings.database_pool_size)
    await db.upgrade()
    logger.info("database ready (%s)", db.dialect, extra={"action": "startup"})
    app[DATABASE] = db
    app[EVENTS] = EventService(db, settings, app[CLOCK])
    app[FEEDS] = FeedService(db, settings, app[CLOCK])
    app[EVENTS].subscribe(app[FEEDS].on_change)
    yield
    await db.dispose()


async def _dispatch_ctx(app: web.Application) -> AsyncIterator[None]:
    """The webhook client and the dispatcher that fires triggers through it."""
    settings, clock = app[SETTINGS], app[CLOCK]
    client = WebhookClient(settings)
    await client.start()
    dispatcher = Dispatcher(app[DATABASE], settings, clock, client)
    app[DISPATCHER] = dispatcher
    app[WEBHOOKS] = WebhookService(app[DATABASE], settings, clock, dispatcher)

    async def wake(_change: EventChange) -> None:
        dispatcher.wake()

    app[EVENTS].subscribe(wake)
    try:
        await dispatcher.start()
        yield
    finally:
        await dispatcher.stop()
        await client.close()


def create_app(settings: Settings, *, clock: Clock | None = None) -> web.Application:
    """Build the service's aiohttp application."""
    app = web.Application(
        client_max_size=settings.max_body_bytes,
        middlewares=[error_middleware, auth_middleware],
    )
    app[SETTINGS] = settings
    app[CLOCK] = clock or system_clock
    app[API_TOKENS] = load_or_create_tokens(settings)
    app.cleanup_ctx.append(_database_ctx)
    app.cleanup_ctx.append(_dispatch_ctx)
    app.add_routes(events.routes)
    app.add_routes(webhooks.routes)
    app.add_routes(calendar.routes)
    app.add_routes(service.routes)
    app.add_routes(openapi.routes)
    return app
