"""Prometheus metrics: request counts and latency per route template, exposed at /metrics."""

from __future__ import annotations

import time

from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

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

    # The router records the matched route in the scope; its template is the label, never the raw
    # path (unbounded label values would grow the registry without limit).
    # A plain ASGI middleware, not ``@app.middleware("http")``: Starlette's BaseHTTPMiddleware
    # runs every request through a task group and memory streams, which cost about half a
    # millisecond of CPU per request (measured on the webhook intake, bench/bench_webhooks.py).
    inner = app.build_middleware_stack

    def build_middleware_stack() -> ASGIApp:
        wrapped = inner()

        async def measure(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                await wrapped(scope, receive, send)
                return
            started = time.perf_counter()
            status = 500  # an exception before the response started is answered 500

            async def send_status(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                await send(message)

            try:
                await wrapped(scope, receive, send_status)
            finally:
                route = str(getattr(scope.get("route"), "path", "unmatched"))
                requests.labels(scope["method"], route, str(status)).inc()
                latency.labels(scope["method"], route).observe(time.perf_counter() - started)

        return measure

    app.build_middleware_stack = build_middleware_stack  # type: ignore[method-assign]

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    app.state.metrics_registry = registry
    return registry
