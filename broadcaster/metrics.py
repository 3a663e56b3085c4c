"""Prometheus metrics of this process (``GET /metrics``).

With ``--workers N`` each process exposes its own figures; a scraper that reaches
one process through the shared port sees that process only.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

LIVE_CONNECTIONS = Gauge(
    "incidents_live_connections", "Open live connections.", ["transport"], registry=REGISTRY
)
EVENTS_APPENDED = Counter(
    "incidents_events_appended_total", "Events appended by this process.", ["type"], registry=REGISTRY
)
DELIVERIES = Counter("incidents_deliveries_total", "Events handed to live connections.", registry=REGISTRY)
HISTORY_FROM_MEMORY = Counter(
    "incidents_resumes_from_memory_total",
    "Resuming readers whose missed events came from the hub's memory, not the store.",
    registry=REGISTRY,
)
SLOW_CONSUMERS = Counter(
    "incidents_slow_consumers_closed_total",
    "Live connections closed because they could not keep up.",
    registry=REGISTRY,
)
WEBHOOK_ATTEMPTS = Counter(
    "incidents_webhook_attempts_total",
    "Webhook delivery attempts by this process (ok: answered 2xx).",
    ["outcome"],
    registry=REGISTRY,
)
BACKEND_SECONDS = Histogram(
    "incidents_backend_seconds",
    "Latency of backend operations.",
    ["op"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
    registry=REGISTRY,
)


@contextmanager
def backend_timer(op: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        BACKEND_SECONDS.labels(op).observe(time.perf_counter() - start)
