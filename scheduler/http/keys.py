"""Typed application keys: the resources every handler may reach."""

from __future__ import annotations

from aiohttp import web

from scheduler.config import Settings
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
from scheduler.services.series import SeriesService
from scheduler.services.series_pauses import SeriesPauses
from scheduler.services.status_view import StatusView
from scheduler.services.webhooks import WebhookService
from scheduler.store.database import Database
from scheduler.timezones import Clock
from scheduler.web.assets import Assets

SETTINGS = web.AppKey("settings", Settings)
CLOCK: web.AppKey[Clock] = web.AppKey("clock")
API_TOKENS: web.AppKey[tuple[str, ...]] = web.AppKey("api_tokens")
DATABASE = web.AppKey("database", Database)
EVENTS = web.AppKey("events", EventService)
IMPORTS = web.AppKey("imports", ImportService)
WEBHOOKS = web.AppKey("webhooks", WebhookService)
DISPATCHER = web.AppKey("dispatcher", Dispatcher)
FEEDS = web.AppKey("feeds", FeedService)
PAGES = web.AppKey("pages", EventPages)
LIVE = web.AppKey("live", LiveHub)
STATUS = web.AppKey("status", StatusView)
METRICS = web.AppKey("metrics", Metrics)
HEALTH = web.AppKey("health", HealthService)
BUS = web.AppKey("bus", ChangeBus)
PUBLIC_PAGES = web.AppKey("public_pages", PublicPages)
ASSETS = web.AppKey("assets", Assets)
SERIES = web.AppKey("series", SeriesService)
PAUSES = web.AppKey("pauses", SeriesPauses)
