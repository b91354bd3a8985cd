"""Prometheus metrics, in one registry per application (no module-level state).

Counters and histograms are updated where things happen (HTTP middleware,
dispatcher, feed service); gauges that describe the database (events by
state, backlog) are refreshed when ``/metrics`` is scraped.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.metrics_core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

# Lateness of a fired trigger: we aim for milliseconds, and want to see seconds.
LATENESS_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 60)
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

CONTENT_TYPE = CONTENT_TYPE_LATEST


#: distinct (method, route, status) series kept; routes are templates and statuses
#: few, so this is a guard, not a limit that is reached
MAX_REQUEST_SERIES = 10_000


class RequestCounts(Collector):
    """``scheduler_http_requests_total`` and ``scheduler_http_request_duration_seconds``,
    counted in plain numbers and turned into metric families when scraped.

    Every request passes here, and prometheus_client's own counter and histogram
    take a lock per update and walk the buckets per observation: on a 300 µs
    request that was a tenth of its cost. Requests are counted on the event loop
    and scraped on it, so plain lists do.
    """

    def __init__(self) -> None:
        self._counts: dict[tuple[str, str, int], list[int]] = {}
        #: (method, route) -> [count per bucket (not cumulative) ..., +Inf, sum]
        self._latency: dict[tuple[str, str], list[float]] = {}

    def count(self, method: str, route: str, status: int, seconds: float | None) -> None:
        """One answered request; ``seconds`` is None for a stream (it lasts as long
        as its client stays, which says nothing about the server)."""
        key = (method, route, status)
        counted = self._counts.get(key)
        if counted is None:
            if len(self._counts) >= MAX_REQUEST_SERIES:
                return
            counted = self._counts[key] = [0]
        counted[0] += 1
        if seconds is None:
            return
        series = (method, route)
        timed = self._latency.get(series)
        if timed is None:
            timed = self._latency[series] = [0.0] * (len(LATENCY_BUCKETS) + 2)
        timed[bisect_left(LATENCY_BUCKETS, seconds)] += 1
        timed[-1] += seconds

    def collect(self) -> Iterator[Metric]:
        counts = CounterMetricFamily(
            "scheduler_http_requests",
            "HTTP requests by route and status",
            labels=["method", "route", "status"],
        )
        for (method, route, status), (value,) in list(self._counts.items()):
            counts.add_metric([method, route, str(status)], value)
        yield counts
        latency = HistogramMetricFamily(
            "scheduler_http_request_duration_seconds",
            "HTTP request latency",
            labels=["method", "route"],
        )
        bounds = [repr(float(b)) for b in LATENCY_BUCKETS] + ["+Inf"]
        for (method, route), timed in list(self._latency.items()):
            cumulative, buckets = 0.0, []
            for bound, in_bucket in zip(bounds, timed[:-1], strict=True):
                cumulative += in_bucket
                buckets.append((bound, cumulative))
            latency.add_metric([method, route], buckets, timed[-1])
        yield latency


class LoopCounter(Collector):
    """A counter updated only on the event loop: a plain number, no lock (for
    counts taken on every request)."""

    def __init__(self, name: str, documentation: str, registry: CollectorRegistry) -> None:
        self.name, self.documentation = name, documentation
        self.value = 0
        registry.register(self)

    def inc(self) -> None:
        self.value += 1

    def collect(self) -> Iterator[Metric]:
        yield CounterMetricFamily(self.name, self.documentation, value=self.value)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = RequestCounts()
        r.register(self.requests)
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
        self.feed_cache_hits = LoopCounter(
            "scheduler_feed_cache_hits", "iCal feed requests served from cache", r
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
