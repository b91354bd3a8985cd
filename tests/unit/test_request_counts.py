"""Request counts and latencies, kept as plain numbers, read back by a Prometheus parser."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from scheduler.metrics import Metrics


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = metrics.exposition().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_counts_and_latency_buckets_read_back_as_prometheus_does() -> None:
    metrics = Metrics()
    for seconds in (0.001, 0.005, 0.03, 100.0):
        metrics.requests.count("GET", "/healthz", 200, seconds)
    metrics.requests.count("GET", "/healthz", 503, 0.2)
    metrics.requests.count("GET", "/api/live/stream", 200, None)
    got = samples(metrics)
    ok = (("method", "GET"), ("route", "/healthz"), ("status", "200"))
    assert got[("scheduler_http_requests_total", ok)] == 4
    assert got[("scheduler_http_requests_total", (*ok[:2], ("status", "503")))] == 1
    stream = (("method", "GET"), ("route", "/api/live/stream"), ("status", "200"))
    assert got[("scheduler_http_requests_total", stream)] == 1

    def bucket(le: str) -> float:
        key = (("le", le), ("method", "GET"), ("route", "/healthz"))
        return got[("scheduler_http_request_duration_seconds_bucket", key)]

    # a bound counts what is at most it (0.005 is in the 0.005 bucket), cumulatively
    assert (bucket("0.005"), bucket("0.025"), bucket("0.05"), bucket("0.25")) == (2, 2, 3, 4)
    assert bucket("30.0") == 4 and bucket("+Inf") == 5
    timed = (("method", "GET"), ("route", "/healthz"))
    assert got[("scheduler_http_request_duration_seconds_count", timed)] == 5
    assert abs(got[("scheduler_http_request_duration_seconds_sum", timed)] - 100.236) < 1e-9
    # a stream is counted, never timed
    streamed = (("method", "GET"), ("route", "/api/live/stream"))
    assert ("scheduler_http_request_duration_seconds_count", streamed) not in got
