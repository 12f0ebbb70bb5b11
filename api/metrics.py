"""Prometheus metrics: request counts and latency per route template, exposed at /metrics."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

__all__ = ["install_metrics"]


def install_metrics(app: FastAPI) -> CollectorRegistry:
    """A registry per app (so tests can build many apps) with HTTP metrics and the /metrics route."""
    registry = CollectorRegistry()
    requests = Counter(
        "crosstrack_http_requests_total",
        "HTTP requests answered",
        ["method", "route", "status"],
        registry=registry,
    )
    latency = Histogram(
        "crosstrack_http_request_duration_seconds",
        "HTTP request latency",
        ["method", "route"],
        registry=registry,
        buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
    )

    def _route_of(request: Request) -> str:
        # The router records the matched route in the scope; use its template, never the raw
        # path (unbounded label values would grow the registry without limit).
        route = request.scope.get("route")
        return str(getattr(route, "path", "unmatched"))

    @app.middleware("http")
    async def _measure(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = _route_of(request)
        requests.labels(request.method, route, str(response.status_code)).inc()
        latency.labels(request.method, route).observe(time.perf_counter() - started)
        return response

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    app.state.metrics_registry = registry
    return registry
