"""Probes: liveness (``/healthz``, ``/health``), readiness (``/readyz``) and Prometheus ``/metrics``."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response

from ..error_boundary import RETRY_AFTER_S
from .common import MODEL_ID, VERSION, RouteContext


def build(context: RouteContext) -> APIRouter:
    router = APIRouter(tags=["probes"])
    holder, settings, metrics = context.holder, context.settings, context.metrics

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        """The process is alive (says nothing about the model: see /readyz)."""
        return {"status": "ok"}

    @router.get("/health")
    async def health() -> dict[str, str]:
        """/healthz under the name Kokoro-style servers use (the process is alive)."""
        return {"status": "healthy"}

    @router.get("/readyz")
    async def readyz() -> JSONResponse:
        """200 when the model is loaded and warmed up; 503 while loading or after a failed load."""
        state = holder.state
        ready = state == "ready"
        device = holder.engine.device if ready else settings.engine.device
        precision = holder.engine.precision if ready else settings.engine.decoder_precision
        body = {"status": state, "model": MODEL_ID, "device": device, "precision": precision, "version": VERSION,
                "error": holder.error}
        return JSONResponse(body, status_code=200 if state == "ready" else 503,
                            headers=None if state == "ready" else {"Retry-After": str(RETRY_AFTER_S)})

    @router.get("/metrics")
    async def prometheus() -> Response:
        """Prometheus text format."""
        body, content_type = metrics.render(holder.state)
        return Response(body, media_type=content_type)

    return router
