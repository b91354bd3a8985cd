"""Prometheus metrics, in one registry per application (no module-level state).

Counters and histograms are updated where things happen (HTTP middleware,
dispatcher, feed service); gauges that describe the database (events by
state, backlog) are refreshed when ``/metrics`` is scraped.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

# Lateness of a fired trigger: we aim for milliseconds, and want to see seconds.
LATENESS_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 60)
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        #: (method, route, status) -> the request counter and latency histogram
        #: children: looking a labelled child up costs more than counting
        self._request_series: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        r = self.registry
        self.http_requests = Counter(
            "scheduler_http_requests_total",
            "HTTP requests by route and status",
            ["method", "route", "status"],
            registry=r,
        )
        self.http_latency = Histogram(
            "scheduler_http_request_duration_seconds",
            "HTTP request latency",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.triggers = Counter(
            "scheduler_triggers_total",
            "Triggers claimed, by type and outcome (fired, missed, expired, ...)",
            ["type", "outcome"],
            registry=r,
        )
        self.fire_lateness = Histogram(
            "scheduler_trigger_lateness_seconds",
            "How late fired triggers were, after their due time",
            buckets=LATENESS_BUCKETS,
            registry=r,
        )
        self.deliveries = Counter(
            "scheduler_delivery_attempts_total",
            "Webhook delivery attempts by outcome (success, retry, gone)",
            ["outcome"],
            registry=r,
        )
        self.delivery_latency = Histogram(
            "scheduler_delivery_latency_seconds",
            "Time for a webhook endpoint to answer",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.retries = Counter(
            "scheduler_delivery_retries_total",
            "Deliveries scheduled for another attempt",
            registry=r,
        )
        self.dead = Counter("scheduler_deliveries_dead_total", "Deliveries given up on", registry=r)
        self.feed_renders = Counter(
            "scheduler_feed_renders_total", "iCal feeds assembled", registry=r
        )
        self.feed_cache_hits = Counter(
            "scheduler_feed_cache_hits_total", "iCal feed requests served from cache", registry=r
        )
        self.events = Gauge("scheduler_events", "Events by lifecycle state", ["state"], registry=r)
        self.pending_triggers = Gauge(
            "scheduler_pending_triggers", "Triggers waiting for their time", registry=r
        )
        self.deliveries_by_state = Gauge(
            "scheduler_deliveries", "Deliveries by state", ["state"], registry=r
        )
        self.sse_clients = Gauge(
            "scheduler_sse_clients", "Open Server-Sent-Events streams", registry=r
        )

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    def request_series(self, method: str, route: str, status: int) -> tuple[Any, Any]:
        """The counter and (except for streams) latency histogram of one kind of
        request. Routes are templates and statuses few, so the cache stays small."""
        key = (method, route, status)
        found = self._request_series.get(key)
        if found is None:
            timed = None
            if not route.endswith("/stream"):  # streams last as long as the client stays
                timed = self.http_latency.labels(method, route)
            found = (self.http_requests.labels(method, route, str(status)), timed)
            if len(self._request_series) < 10_000:
                self._request_series[key] = found
        return found
