"""Requests of a FastAPI app (the gateway, the web) as Prometheus metrics, and its
/metrics route, answered only to RAVAO_METRICS_FROM (`pipeline.prometheus`)."""

from __future__ import annotations

import time

from fastapi import Request
from fastapi.responses import Response
from prometheus_client import CollectorRegistry, Counter, Histogram

from .prometheus import allowed, exposition, networks, new_registry

# Seconds: from a cached page (a millisecond) to a scan waiting for Kafka's acknowledgement.
HTTP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})  # others: "other"


class HttpMetrics:
    """Requests of a FastAPI app by route (the route's template, not the path: ``/s/{code}``),
    method and status, and their duration; served at /metrics to RAVAO_METRICS_FROM only."""

    def __init__(self, service: str, metrics_from: str, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or new_registry()
        self.allowed = networks(metrics_from)
        self.requests = Counter(f"ravao_{service}_requests", "HTTP requests answered, by route, method and status",
                                ["route", "method", "status"], registry=self.registry)
        self.seconds = Histogram(f"ravao_{service}_request_seconds", "Time to answer an HTTP request, by route",
                                 ["route"], buckets=HTTP_BUCKETS, registry=self.registry)

    def install(self, app) -> None:
        """The counting middleware and the /metrics route, on ``app``."""
        metrics = self

        @app.get("/metrics", include_in_schema=False)
        async def metrics_page(request: Request) -> Response:
            client = request.client.host if request.client else None
            if not allowed(client, metrics.allowed):
                return Response("Not Found", 404, media_type="text/plain")
            body, content_type = exposition(metrics.registry)
            return Response(body, media_type=content_type, headers={"Cache-Control": "no-store"})

        app.add_middleware(CountRequests, metrics=self)

    def count(self, scope, status: int, seconds: float) -> None:
        route = scope.get("route")  # set by the router on the request's scope once it matched
        template = getattr(route, "path", None) or "other"
        method = scope.get("method") if scope.get("method") in METHODS else "other"
        self.requests.labels(template, method, str(status)).inc()
        self.seconds.labels(template).observe(seconds)


class CountRequests:
    """Plain ASGI middleware (not `BaseHTTPMiddleware`: the gateway's body guard and its
    timeouts see the connection as it is): the status sent, the time to the end."""

    def __init__(self, app, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]  # an exception before the answer began: the server answers 500

        async def sending(message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            self.metrics.count(scope, status[0], time.perf_counter() - started)
