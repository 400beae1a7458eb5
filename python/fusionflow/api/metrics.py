"""Request metrics for Prometheus: counts by route and status, latency by route."""

from __future__ import annotations

import time

from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUESTS = Counter(
    "fusionflow_http_requests_total",
    "HTTP requests, by method, route template and status code.",
    ["method", "route", "status"],
)
LATENCY = Histogram(
    "fusionflow_http_request_duration_seconds",
    "Time to the end of the response, by method and route template.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)


class RequestMetrics:
    """Pure ASGI middleware (no buffering, so event streams and downloads pass through)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        code = 500

        async def send_status(message: Message) -> None:
            nonlocal code
            if message["type"] == "http.response.start":
                code = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            # The router records the matched route in the scope; the template keeps the
            # label set small (/jobs/{job_id}, not one label per job).
            route = getattr(scope.get("route"), "path", "unmatched")
            REQUESTS.labels(scope["method"], route, str(code)).inc()
            LATENCY.labels(scope["method"], route).observe(time.perf_counter() - started)
