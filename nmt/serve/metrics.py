"""Prometheus metrics of one server (its own registry, so two apps in a process never collide)."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from nmt.serve.batcher import BatchInfo

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


class ServerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "nmt_requests", "HTTP requests answered", ["route", "status"], registry=self.registry
        )
        self.errors = Counter(
            "nmt_errors",
            "requests answered with an error, by kind (bad_body, invalid, too_large, auth, "
            "unknown_model, queue_full, timeout, unavailable, decoding, not_found, internal)",
            ["kind"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "nmt_request_latency_seconds",
            "time from request to answer",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.lines = Counter(
            "nmt_translated_lines", "lines translated", ["model"], registry=self.registry
        )
        self.batch_requests = Histogram(
            "nmt_batch_requests",
            "requests decoded together in one call",
            ["model"],
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        self.batch_lines = Histogram(
            "nmt_batch_lines",
            "lines decoded together in one call",
            ["model"],
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        self.queue = Gauge(
            "nmt_queue_requests",
            "requests waiting to be decoded",
            ["model"],
            registry=self.registry,
        )

    def watch_queue(self, model: str, depth: Callable[[], int]) -> None:
        self.queue.labels(model).set_function(depth)

    def batch(self, model: str, info: BatchInfo) -> None:
        """Called from the decoding thread after each call (prometheus_client is thread-safe)."""
        self.batch_requests.labels(model).observe(info.requests)
        self.batch_lines.labels(model).observe(info.lines)
        self.lines.labels(model).inc(info.lines)

    def request(self, route: str, status: int, seconds: float) -> None:
        self.requests.labels(route, str(status)).inc()
        self.latency.labels(route).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
