"""Prometheus metrics on a private registry (one per app, so tests can build many apps)."""

from __future__ import annotations

import time
from typing import Any, Awaitable, Callable, Literal

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Enum, Gauge, Histogram, generate_latest

# Paths reported under their own name; unknown /v1 paths as "/v1/*"; everything else (the Gradio UI) as "ui".
API_ROUTES = frozenset({"/healthz", "/health", "/readyz", "/metrics", "/v1/audio/speech", "/v1/voices", "/v1/models",
                        "/v1/audio/voices", "/v1/audio/models"})
ENGINE_STATES = ["loading", "ready", "failed"]
Source = Literal["api", "ui"]
SOURCES: tuple[Source, ...] = ("api", "ui")


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("indextts_http_requests", "HTTP requests by route, method and status",
                                ["route", "method", "status"], registry=r)
        self.errors = Counter("indextts_errors", "Failed API requests by route and error kind",
                              ["route", "kind"], registry=r)
        self.latency = Histogram("indextts_request_duration_seconds", "API request latency",
                                 ["route"], registry=r,
                                 buckets=(0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300))
        self.rtf = Histogram("indextts_synthesis_rtf", "Real-time factor of generations (compute s / audio s)",
                             registry=r, buckets=(0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10))
        self.first_audio = Histogram("indextts_time_to_first_audio_seconds",
                                     "Streaming requests: request received to first audio sent", registry=r,
                                     buckets=(0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 2, 5, 10, 30))
        self.audio_seconds = Counter("indextts_audio_seconds", "Seconds of audio generated", registry=r)
        self.generations = Counter("indextts_generations", "Successful generations by source (api or ui)",
                                   ["source"], registry=r)
        for source in SOURCES:  # export 0 from the start, so rate() and absent-series alerts work at once
            self.generations.labels(source)
        self.queue_depth = Gauge("indextts_queue_depth", "API requests waiting for a generation slot", registry=r)
        self.in_progress = Gauge("indextts_generations_in_progress", "API generations running now", registry=r)
        self.engine_state = Enum("indextts_engine", "Engine state", states=ENGINE_STATES, registry=r)

    def count_error(self, route: str, kind: str) -> None:
        """A failed request: ``route`` is an API path or "ui" for the page's generations."""
        self.errors.labels(route, kind).inc()

    def observe_generation(self, audio_s: float, rtf: float, source: Source) -> None:
        """One successful generation, from the HTTP API or the page."""
        self.generations.labels(source).inc()
        self.audio_seconds.inc(audio_s)
        if rtf == rtf and rtf != float("inf"):  # skip NaN/inf (zero-length audio)
            self.rtf.observe(rtf)

    def render(self, engine_state: str) -> tuple[bytes, str]:
        self.engine_state.state(engine_state)
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


ASGIApp = Callable[[dict[str, Any], Callable[[], Awaitable[dict]], Callable[[dict], Awaitable[None]]], Awaitable[None]]


class MetricsMiddleware:
    """Counts every HTTP request by route and status; times the API routes (not the UI's long polls)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        route = path if path in API_ROUTES else ("/v1/*" if path.startswith("/v1/") else "ui")
        status = {"code": 500}
        started = time.perf_counter()

        async def send_wrapper(message: dict) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            self.metrics.requests.labels(route, scope.get("method", ""), str(status["code"])).inc()
            if route != "ui":
                self.metrics.latency.labels(route).observe(time.perf_counter() - started)
