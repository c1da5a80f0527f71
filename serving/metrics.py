"""Prometheus metrics of one API process: latency per route, forecasts, actuals, model version.

Each app gets its own registry, so several apps in one process (tests) never clash. With several
uvicorn workers each worker reports its own numbers (scrape them through the proxy, or set up
prometheus_client's multiprocess mode).
"""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class ApiMetrics:
    """The counters and histograms `/metrics` exposes."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.latency = Histogram(
            "anticipate_request_seconds",
            "Request latency by method, route and status code.",
            ["method", "route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.forecasts = Counter(
            "anticipate_forecasts_served",
            "Series forecasts served (one per series per request).",
            registry=self.registry,
        )
        self.actuals = Counter(
            "anticipate_actuals_ingested", "Actual rows posted.", registry=self.registry
        )
        self.shed_requests = Counter(
            "anticipate_requests_shed",
            "Requests answered 503 by admission control (too many in flight).",
            registry=self.registry,
        )
        self.ledger_queue = Gauge(
            "anticipate_ledger_queue",
            "Served forecasts waiting for the ledger writer.",
            registry=self.registry,
        )
        self.model = Gauge(
            "anticipate_model_version",
            "The registered model version being served (1 for the current one).",
            ["name", "version"],
            registry=self.registry,
        )

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Record one answered request."""
        self.latency.labels(method, route, str(status)).observe(seconds)

    def forecasts_served(self, n: int) -> None:
        """Count `n` series forecasts served."""
        self.forecasts.inc(n)

    def actuals_ingested(self, n: int) -> None:
        """Count `n` actual rows received."""
        self.actuals.inc(n)

    def shed(self) -> None:
        """Count one request refused by admission control."""
        self.shed_requests.inc()

    def model_loaded(self, name: str, version: str) -> None:
        """Show `version` as the served one."""
        self.model.clear()
        self.model.labels(name, version).set(1)

    def render(self) -> tuple[bytes, str]:
        """The text exposition format and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
