"""One replica's FastAPI app: the single process's API (the same ``build_router``, error handlers, auth, CORS
and metrics middleware, so the same routes and error shapes), without the Gradio page, plus:

- ``X-Replica`` on every response (the replica's Serve id) and ``Server-Timing: app;dur=MS`` (time spent in
  the replica until the response started), so a client or the bench sees who answered and what the ingress
  added;
- ``/readyz`` says 200 only when this replica's engine is ready AND every replica of the deployment is running
  (the launcher prints STARTUP_OK on it: "all replicas ready").
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from ..config import Settings
from ..server.api import VERSION
from ..server.app import EXPOSED_HEADERS, add_edge_middleware, install_api
from ..server.engine_holder import EngineHolder
from ..server.error_boundary import RETRY_AFTER_S
from ..server.metrics import Metrics
from ..server.outputs import OutputStore

REPLICA_HEADER = b"x-replica"
READINESS_CACHE_S = 1.0  # how long /readyz trusts an "all replicas running" answer


class ReplicaHeaderMiddleware:
    """Adds ``X-Replica: <id>`` and ``Server-Timing: app;dur=<ms>`` to every HTTP response of this replica."""

    def __init__(self, app: Any, replica_id: str) -> None:
        self.app = app
        self.replica_id = replica_id.encode()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def send_with_headers(message: dict) -> None:
            if message["type"] == "http.response.start":
                elapsed_ms = (time.perf_counter() - started) * 1000
                message = {**message, "headers": [*message.get("headers", []),
                                                   (REPLICA_HEADER, self.replica_id),
                                                   (b"server-timing", f"app;dur={elapsed_ms:.2f}".encode())]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class DeploymentReadiness:
    """How many of the deployment's replicas run, from Serve's controller. "All running" is kept for
    READINESS_CACHE_S (probes every few seconds must not each cost a controller call); "not yet" is asked
    again every time, so no replica says 503 after another one has seen them all ready."""

    def __init__(self, count_running: Callable[[], tuple[int, int]]) -> None:
        self._count_running = count_running
        self._checked_at = 0.0
        self._last: tuple[int, int] = (0, 0)

    async def running(self) -> tuple[int, int]:
        """(replicas running, replicas wanted)."""
        running, wanted = self._last
        if wanted == 0 or running < wanted or time.monotonic() - self._checked_at > READINESS_CACHE_S:
            self._last = await asyncio.to_thread(self._count_running)
            self._checked_at = time.monotonic()
        return self._last


class AllReplicasReadyGate:
    """``GET /readyz``: this replica's own answer when it says 503; else 503 {"status": "loading"} until every
    replica of the deployment runs (Serve already routes to the first one up, but the launcher's STARTUP_OK
    means all of them)."""

    def __init__(self, app: Any, readiness: DeploymentReadiness) -> None:
        self.app = app
        self.readiness = readiness

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope.get("path") == "/readyz":
            running, wanted = await self.readiness.running()
            if running < wanted or wanted == 0:
                body = {"status": "loading", "replicas_running": running, "replicas": wanted,
                        "error": None, "version": VERSION}
                response = JSONResponse(body, status_code=503, headers={"Retry-After": str(RETRY_AFTER_S)})
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def build_replica_app(settings: Settings, holder: EngineHolder, replica_id: str,
                      readiness: DeploymentReadiness) -> FastAPI:
    """The API app one replica serves (same middleware order as server/app.py's create_app, page left out)."""
    store = OutputStore(settings)
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        holder.start()  # already started (and waited for) by the replica; a no-op then
        try:
            yield
        finally:
            await asyncio.to_thread(holder.close)

    app = FastAPI(title="IndexTTS WebUI API (Ray Serve replica)", version=VERSION, lifespan=lifespan,
                  description="Local text-to-speech (Kokoro-82M). OpenAI-compatible /v1/audio/speech.")
    install_api(app, settings, holder, store, metrics, replica=True)
    add_edge_middleware(app, settings, metrics, exposed_headers=[*EXPOSED_HEADERS, "X-Replica"])
    app.add_middleware(AllReplicasReadyGate, readiness=readiness)
    app.add_middleware(ReplicaHeaderMiddleware, replica_id=replica_id)  # outermost: every answer carries it
    return app
